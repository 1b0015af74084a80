package detect

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/state"
)

// The sequence detector finds knock sequences: ordered runs of attempts on
// distinct closed ports from one source to one host, with gaps from well
// under a millisecond (the knock client) to tens of seconds (a person).
//
// Per source it keeps one burst: the attempts whose gaps stay below MaxGap.
// A burst is judged once the source has been quiet for a settle time that
// adapts to the burst's own pace (three times its largest gap, at least
// SettleMin), or at once when the source makes a successful connection to a
// host it was knocking on. Judging splits the burst by destination into runs
// and scores each run against scan-likeness and retry-likeness. A run that
// grows after it was reported (a slow knock with an irregular pause) is
// reported again, superseding the first alert; so is a knock whose
// connection arrives after it was reported but within FollowWindow.

const (
	// burstCap is the number of attempts a burst keeps. A knock has at most
	// 16 ports, so a burst that overflows is a scan whatever it holds.
	burstCap = 16
	// burstDsts is the number of destinations a burst keeps apart; a source
	// knocking more hosts at once is sweeping.
	burstDsts = 4
	// retransmitWindow merges a repeated attempt from the same source port
	// (a TCP retransmission, or the same packet from a second input) into
	// the first.
	retransmitWindow = 3 * int64(time.Second)
	// periodicGap is the longest interval between repeats of one run for
	// it to look like a health check rather than a knock used again.
	periodicGap = 2 * int64(time.Minute)
)

type attempt struct {
	t      int64
	index  uint64
	input  uint32
	port   uint16 // destination port; ICMP type<<8|code
	sport  uint16
	proto  event.Proto
	shape  event.Shape
	dst    uint8
	eflags event.Flags
	tflags event.TCPFlags
}

type phase uint8

const (
	phaseNone    phase = iota
	phaseOpen          // attempts arriving; judged at the settle deadline
	phaseSettled       // judged; kept until MaxGap in case it grows
)

type burst struct {
	// The fields every attempt reads or writes come first, so an attempt
	// touches as few cache lines of its source as possible.
	n        uint8
	nd       uint8
	manyDsts bool
	overflow uint32 // attempts not kept
	first    int64
	last     int64
	maxGap   int64
	dsts     [burstDsts]netip.Addr
	att      [burstCap]attempt
	// reported holds, per destination, the alert last emitted for its run
	// and how many distinct ports it had.
	reported      [burstDsts]*alert.Alert
	reportedPorts [burstDsts]uint8
}

// knockMemo remembers a reported knock for FollowWindow, so a connection
// that comes after the burst is gone can still complete it.
type knockMemo struct {
	a        *alert.Alert
	dst      netip.Addr
	last     int64
	followed bool
}

// sigMemo remembers a run's signature (destination and ordered ports) and
// the times it was last seen, to tell a recurring knock from a periodic
// health check. Only occurrences within the scan horizon count, so the same
// events give the same verdict whatever happened long before them (a sensor
// that replays the last horizon after a restart or a Kafka rebalance must
// rebuild the same alert content for the same id).
type sigMemo struct {
	sig   uint64
	times [4]int64 // most recent first
	n     uint8
}

type seqSource struct {
	gen      uint32
	phase    phase
	queued   bool
	deadline int64
	// queuedAt is the deadline of the wheel item that is current; items
	// with other deadlines are stale (see schedule).
	queuedAt int64

	// Scan-likeness over ScanHorizon, in two epochs so the count does not
	// fall to zero at an epoch edge: hashed sets of ports and hosts.
	epochStart int64
	hosts      [2]uint64
	ports      [2][4]uint64

	b burst

	scanEpoch   int64 // epoch in which a scan finding was last emitted
	scanEmitted bool
	// The last scan finding of the epoch: its generation (0 for the
	// first), the ports it reported, and the attempts of the scan's
	// bursts so far. They fit the padding before knocks.
	scanGen      uint8
	scanPorts    uint16
	scanAttempts uint32
	knocks       [2]knockMemo
	sigs         [4]sigMemo
}

// Sequence is the knock-sequence detector of one shard.
type Sequence struct {
	cfg    config.Sequence
	allow  config.Allowlist
	auth   []config.Authorized
	deps   Deps
	table  *state.Table[seqSource]
	queue  *deadlineWheel
	gen    uint32
	now    int64
	tmpRun []attempt
	due    []deadlineItem
	// halfHorizon is ScanHorizon/2, the length of one counting epoch.
	halfHorizon int64

	sources   atomic.Int64
	evictions atomic.Uint64
}

var _ Detector = (*Sequence)(nil)

// seqEntryBytes estimates the memory of one source: the value, its key,
// LRU links and index map entry, its deadline and a share of the alerts it
// may hold.
var seqEntryBytes = int64(unsafe.Sizeof(seqSource{})) + 96

// StateShare is the part of state.max_bytes the per-source tables may fill.
// The rest is headroom: the garbage collector needs room above the live
// heap, and decoders, batches and alerts need some too, so that the whole
// process stays under the cap during a flood of spoofed sources.
const StateShare = 0.45

// NewSequence makes the detector for one of shards shards; the state cap of
// the configuration is shared equally between shards.
func NewSequence(cfg config.Config, shards int, deps Deps) *Sequence {
	if shards < 1 {
		shards = 1
	}
	capacity := int(float64(cfg.State.MaxBytes) * StateShare / float64(seqEntryBytes) / float64(shards))
	d := &Sequence{
		cfg:   cfg.Sequence,
		allow: cfg.Allowlist,
		auth:  cfg.Authorized,
		deps:  deps,
		table: state.New[seqSource](capacity),

		halfHorizon: int64(cfg.Sequence.ScanHorizon) / 2,
	}
	d.queue = newDeadlineWheel(int64(cfg.Sequence.MaxGap) + int64(time.Second))
	d.table.OnEvict = d.evict
	return d
}

// Stats reports state size and evictions.
func (d *Sequence) Stats() Stats {
	return Stats{Name: "sequence", Sources: d.sources.Load(), Capacity: int64(d.table.Cap()), Evictions: d.evictions.Load()}
}

func (d *Sequence) trace(src netip.Addr, format string, args ...any) {
	if d.deps.Trace.On(src) {
		d.deps.Trace.Addf(time.Unix(0, d.now).UTC().Format("2006-01-02T15:04:05.000Z") + " sequence: " + fmt.Sprintf(format, args...))
	}
}

// isAttempt reports whether ev is an attempt to reach a port that was not
// open to the source: a TCP packet opening a connection (SYN, or the
// SYN-less probes of FIN/NULL/XMAS scans, but not ACK or RST traffic), a
// UDP datagram or an ICMP request.
func isAttempt(ev *event.Event) bool {
	if ev.Action == event.ActionAllowed {
		return false
	}
	switch ev.Proto {
	case event.ProtoTCP:
		return ev.TCPFlags&(event.FlagACK|event.FlagRST) == 0
	case event.ProtoUDP:
		return true
	case event.ProtoICMP:
		return ev.ICMPType == 8 || ev.ICMPType == 13 || ev.ICMPType == 15 || ev.ICMPType == 17
	case event.ProtoICMPv6:
		return ev.ICMPType == 128
	}
	return false
}

// isConnection reports whether ev is a successful connection: an allowed
// record that opens (or summarizes) a flow. Mid-stream packets logged by an
// accept rule are not new connections.
func isConnection(ev *event.Event) bool {
	if ev.Action != event.ActionAllowed {
		return false
	}
	switch ev.Proto {
	case event.ProtoTCP:
		return ev.TCPFlags == 0 || (ev.TCPFlags&event.FlagSYN != 0 && ev.TCPFlags&event.FlagACK == 0)
	case event.ProtoUDP:
		return true
	}
	return false
}

func portKey(ev *event.Event) uint16 {
	if ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6 {
		return uint16(ev.ICMPType)<<8 | uint16(ev.ICMPCode)
	}
	return ev.DstPort
}

// Observe processes one event.
func (d *Sequence) Observe(ev *event.Event) {
	if ev.Kind != event.KindAttempt || !ev.Src.IsValid() {
		return
	}
	if ev.Time > d.now {
		d.now = ev.Time
	}
	// Judge what fell due before this event, so a batch of events yields the
	// same findings as the same events arriving one by one in real time.
	if d.queue.Behind(ev.Time) {
		d.runDue(ev.Time)
	}
	switch {
	case isAttempt(ev):
		d.observeAttempt(ev)
	case isConnection(ev):
		d.observeConnection(ev)
	}
}

func (d *Sequence) observeAttempt(ev *event.Event) {
	i, created := d.table.Insert(state.KeyOf(ev.Src))
	s := d.table.At(i)
	if created {
		d.gen++
		s.gen = d.gen
		d.sources.Store(int64(d.table.Len()))
	}
	t := ev.Time
	// A burst ends when the pause before this attempt is too long, or when
	// it has gone on longer than any knock takes.
	if s.phase != phaseNone && (t-s.b.last > int64(d.cfg.MaxGap) || t-s.b.first > int64(d.cfg.MaxSpan) || d.newKnockAfterPause(&s.b, t)) {
		if s.phase == phaseOpen {
			d.judge(ev.Src, s, nil)
		}
		d.closeBurst(s)
	}
	d.countHorizon(s, ev, t)

	b := &s.b
	if s.phase == phaseNone {
		b.first, b.last, b.maxGap = t, t, 0
		s.phase = phaseOpen
	}
	if gap := t - b.last; gap > b.maxGap {
		b.maxGap = gap
	}
	if t > b.last {
		b.last = t
	}
	s.phase = phaseOpen
	d.store(s, ev)

	settle := max(3*b.maxGap, int64(d.cfg.SettleMin))
	settle = min(settle, int64(d.cfg.MaxGap))
	s.deadline = b.last + settle
	d.schedule(i, s)
	if d.deps.Trace.On(ev.Src) {
		d.trace(ev.Src, "attempt %s %d/%s -> %s (burst of %d, judged after %s of quiet)", ev.Action, ev.DstPort, ev.Proto, ev.Dst, int(b.n)+int(b.overflow), time.Duration(settle))
	}
}

// newKnockAfterPause reports whether an attempt after a pause starts a new
// burst although the pause is under MaxGap: a burst whose hits came
// milliseconds apart that resumes half a minute later is a second knock,
// not the slow end of the first. A pause up to ten times the burst's largest
// gap (at least two seconds) still continues it: people knock irregularly.
func (d *Sequence) newKnockAfterPause(b *burst, t int64) bool {
	if b.n < 2 {
		return false
	}
	return t-b.last > max(10*b.maxGap, 2*int64(time.Second))
}

// store adds an attempt to the burst, folding retransmissions into the
// first copy and counting what does not fit.
func (d *Sequence) store(s *seqSource, ev *event.Event) {
	b := &s.b
	di := -1
	for k := 0; k < int(b.nd); k++ {
		if b.dsts[k] == ev.Dst {
			di = k
			break
		}
	}
	if di < 0 {
		if int(b.nd) == burstDsts {
			b.manyDsts = true
			b.overflow++
			return
		}
		di = int(b.nd)
		b.dsts[di] = ev.Dst
		b.nd++
	}
	if int(b.n) == burstCap {
		b.overflow++
		return
	}
	port := portKey(ev)
	// The same packet twice (a TCP retransmission, or one attempt seen both
	// in a firewall log and in a capture of the same link) has the same
	// source port; a client's new attempt has a new one.
	if ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP {
		for k := 0; k < int(b.n); k++ {
			a := &b.att[k]
			if int(a.dst) == di && a.port == port && a.proto == ev.Proto && a.sport == ev.SrcPort && ev.Time-a.t < retransmitWindow {
				return
			}
		}
	}
	b.att[b.n] = attempt{
		t: ev.Time, index: ev.Origin.Index, input: ev.Origin.Input,
		port: port, sport: ev.SrcPort, proto: ev.Proto, shape: ev.Shape,
		dst: uint8(di), eflags: ev.Flags, tflags: ev.TCPFlags,
	}
	b.n++
}

// countHorizon adds the attempt to the source's scan-likeness sets.
func (d *Sequence) countHorizon(s *seqSource, ev *event.Event, t int64) {
	epoch := d.halfHorizon
	switch {
	case s.epochStart == 0 || t-s.epochStart >= 2*epoch:
		s.ports = [2][4]uint64{}
		s.hosts = [2]uint64{}
		s.epochStart = t
	case t-s.epochStart >= epoch:
		s.ports[1] = s.ports[0]
		s.ports[0] = [4]uint64{}
		s.hosts[1] = s.hosts[0]
		s.hosts[0] = 0
		s.epochStart = t
	}
	// Fibonacci hashing: one multiply spreads ports and hosts well enough
	// over these small sets, and this runs for every attempt.
	h := (uint64(portKey(ev)) | uint64(ev.Proto)<<16) * 0x9E3779B97F4A7C15
	s.ports[0][h>>62] |= 1 << ((h >> 55) & 63)
	a16 := ev.Dst.As16()
	lo := uint64(a16[12])<<24 | uint64(a16[13])<<16 | uint64(a16[14])<<8 | uint64(a16[15]) | uint64(a16[3])<<32 | uint64(a16[7])<<40
	s.hosts[0] |= 1 << ((lo * 0x9E3779B97F4A7C15) >> 58)
}

// horizonPorts estimates the distinct ports in the hashed set by linear
// counting (n ≈ -m·ln(1 - k/m) for k of m bits set), which corrects for
// collisions; a nearly full set reads as 1000.
func (s *seqSource) horizonPorts() int {
	k := 0
	for i := 0; i < 4; i++ {
		k += bits.OnesCount64(s.ports[0][i] | s.ports[1][i])
	}
	const m = 256
	if k >= m-2 {
		return 1000
	}
	return int(math.Round(-m * math.Log(1-float64(k)/m)))
}

// horizonHosts counts the hosts' bits. Fibonacci hashing spreads nearby
// addresses (the usual sweep) almost without collisions, so the bit count
// is the better estimate here; linear counting would overshoot.
func (s *seqSource) horizonHosts() int { return bits.OnesCount64(s.hosts[0] | s.hosts[1]) }

func (d *Sequence) observeConnection(ev *event.Event) {
	i, ok := d.table.Peek(state.KeyOf(ev.Src))
	if !ok {
		return
	}
	s := d.table.At(i)
	conn := &connInfo{t: ev.Time, dst: ev.Dst, port: ev.DstPort, proto: ev.Proto, origin: ev.Origin}
	if s.phase != phaseNone && ev.Time-s.b.last <= int64(d.cfg.FollowWindow) {
		for k := 0; k < int(s.b.nd); k++ {
			if s.b.dsts[k] == ev.Dst {
				if d.deps.Trace.On(ev.Src) {
					d.trace(ev.Src, "connection to %s %d/%s while its burst is pending: judging now", ev.Dst, ev.DstPort, ev.Proto)
				}
				d.judge(ev.Src, s, conn)
				// The knock did its job: what the source tries next is a
				// new burst. The memo keeps the knock for later connections.
				d.closeBurst(s)
				return
			}
		}
	}
	for k := range s.knocks {
		m := &s.knocks[k]
		if m.a == nil || m.followed || m.dst != ev.Dst || ev.Time < m.last || ev.Time-m.last > int64(d.cfg.FollowWindow) {
			continue
		}
		m.followed = true
		if d.deps.Trace.On(ev.Src) {
			d.trace(ev.Src, "connection to %s %d/%s %s after the knock reported as %s", ev.Dst, ev.DstPort, ev.Proto, time.Duration(ev.Time-m.last), m.a.ID)
		}
		d.emitFollowed(m.a, conn, m.last)
		return
	}
}

type connInfo struct {
	t      int64
	dst    netip.Addr
	port   uint16
	proto  event.Proto
	origin event.Origin
}

// Advance judges bursts whose quiet time has passed and forgets those that
// can no longer grow.
func (d *Sequence) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	d.runDue(now)
	d.expireOldest(now, 64)
}

// runDue handles every deadline whose wheel bucket is over by now.
func (d *Sequence) runDue(now int64) {
	d.due = append(d.due[:0], d.queue.Due(now)...)
	for _, it := range d.due {
		if !d.table.Live(it.slot) {
			continue
		}
		s := d.table.At(it.slot)
		if s.gen != it.gen || !s.queued || it.deadline != s.queuedAt {
			continue
		}
		s.queued = false
		if s.deadline > now {
			d.schedule(it.slot, s)
			continue
		}
		d.expire(it.slot, s)
	}
}

// expire moves a source along when its deadline passes: an open burst is
// judged and kept until MaxGap; a settled one is closed.
func (d *Sequence) expire(i int32, s *seqSource) {
	switch s.phase {
	case phaseOpen:
		d.judge(d.table.KeyAt(i).Addr(), s, nil)
		s.phase = phaseSettled
		s.deadline = s.b.last + int64(d.cfg.MaxGap)
		d.schedule(i, s)
	case phaseSettled:
		d.closeBurst(s)
	}
}

// expireOldest drops up to limit sources that have been idle longer than
// anything they hold can matter.
func (d *Sequence) expireOldest(now int64, limit int) {
	keep := int64(max(d.cfg.ScanHorizon, d.cfg.FollowWindow))
	for n := 0; n < limit; n++ {
		i, ok := d.table.Oldest()
		if !ok {
			return
		}
		s := d.table.At(i)
		if now-s.lastActivity() <= keep {
			return
		}
		d.finish(i, s)
		d.table.Delete(i)
	}
	d.sources.Store(int64(d.table.Len()))
}

func (s *seqSource) lastActivity() int64 {
	t := s.b.last
	t = max(t, s.epochStart)
	for _, m := range s.knocks {
		t = max(t, m.last)
	}
	return t
}

// finish judges what a source still holds before it is dropped.
func (d *Sequence) finish(i int32, s *seqSource) {
	if s.phase == phaseOpen {
		d.judge(d.table.KeyAt(i).Addr(), s, nil)
	}
	s.phase = phaseNone
}

func (d *Sequence) evict(key state.Key, s *seqSource) {
	d.evictions.Add(1)
	if s.phase == phaseOpen {
		d.judge(key.Addr(), s, nil)
	}
}

// Flush judges every pending burst.
func (d *Sequence) Flush() {
	d.table.Each(func(i int32) {
		d.finish(i, d.table.At(i))
	})
}

func (d *Sequence) closeBurst(s *seqSource) {
	s.phase = phaseNone
	s.b.n, s.b.nd, s.b.overflow, s.b.manyDsts = 0, 0, 0, false
	s.b.reported = [burstDsts]*alert.Alert{}
	s.b.reportedPorts = [burstDsts]uint8{}
}

// schedule makes sure the wheel holds an item due no later than the
// source's deadline. A later deadline waits for the queued item, which
// requeues it when it fires; an earlier one (a settled burst, waiting out
// MaxGap, that resumes and must be judged after its settle time) gets an
// item of its own, and the one it replaces is skipped when it comes due.
func (d *Sequence) schedule(i int32, s *seqSource) {
	if s.queued && s.deadline >= s.queuedAt {
		return
	}
	s.queued, s.queuedAt = true, s.deadline
	d.queue.Push(deadlineItem{deadline: s.deadline, slot: i, gen: s.gen}, d.now)
}

// runFacts is what judging learns about one run.
type runFacts struct {
	seq          []alert.Knock
	distinct     int
	attempts     int
	scan         float64
	scanReasons  []string
	retry        bool
	retryReason  string
	knockReasons []string
	confidence   float64
}

// judge scores the runs of a burst and reports the knocks. conn, if set, is
// the successful connection that ended the burst; it belongs to the run to
// its host.
func (d *Sequence) judge(src netip.Addr, s *seqSource, conn *connInfo) {
	b := &s.b
	for di := 0; di < int(b.nd); di++ {
		run := d.tmpRun[:0]
		for k := 0; k < int(b.n); k++ {
			if int(b.att[k].dst) == di {
				run = append(run, b.att[k])
			}
		}
		d.tmpRun = run
		if len(run) == 0 {
			continue
		}
		var c *connInfo
		if conn != nil && conn.dst == b.dsts[di] {
			c = conn
		}
		d.judgeRun(s, src, di, run, c)
	}
	// A sweep (one or two ports on many hosts) never makes a run long
	// enough to judge, so it is reported here.
	if b.manyDsts || (b.nd > 1 && s.horizonHosts() >= d.cfg.SweepHosts) {
		d.reportScan(s, src, b.att[0].t, 1, []string{fmt.Sprintf("source touched %d or more hosts", max(s.horizonHosts(), int(b.nd)))}, 0)
	}
}

func (d *Sequence) judgeRun(s *seqSource, src netip.Addr, di int, run []attempt, conn *connInfo) {
	b := &s.b
	dst := b.dsts[di]
	tracing := d.deps.Trace.On(src)
	if distinctPorts(run) < d.cfg.MinPorts {
		// The common case under load (single probes, spoofed floods): no
		// allocation, no formatting.
		if tracing {
			d.trace(src, "run to %s: %d attempt(s) on %d distinct port(s), fewer than %d: not a knock", dst, len(run), distinctPorts(run), d.cfg.MinPorts)
		}
		return
	}
	slices.SortStableFunc(run, func(x, y attempt) int {
		switch {
		case x.t < y.t:
			return -1
		case x.t > y.t:
			return 1
		}
		return 0
	})
	if onlyICMP(run) {
		// Pings and ICMP probes are not port knocks; ICMP triggers carrying
		// a token are the magic-packet detector's.
		if tracing {
			d.trace(src, "run to %s: ICMP only: not a port knock", dst)
		}
		return
	}
	f := d.facts(s, src, run)
	// Retries first: a health check of two service ports repeated for a
	// minute is neither a knock nor a scan.
	if f.retry {
		if tracing {
			d.trace(src, "run to %s %s: %s: not a knock", dst, alert.SequenceString(f.seq), f.retryReason)
		}
		return
	}
	if f.scan >= d.cfg.ScanThreshold {
		if tracing {
			d.trace(src, "run to %s %s: scan-likeness %.2f >= %.2f (%s): a scan, not a knock", dst, alert.SequenceString(f.seq), f.scan, d.cfg.ScanThreshold, joinReasons(f.scanReasons))
		}
		if f.distinct >= 3 {
			// Two ports are too few to call a scan; they are just not a knock.
			d.reportScan(s, src, run[0].t, f.scan, f.scanReasons, f.distinct)
		}
		return
	}
	prev := b.reported[di]
	if prev != nil && int(b.reportedPorts[di]) == f.distinct && (conn == nil || prev.FollowedBy != nil) {
		return // nothing new since it was reported
	}
	a := d.knockAlert(s, src, dst, run, f, conn)
	if a == nil {
		if tracing {
			d.trace(src, "run to %s %s: repeats at a fixed interval like a health check: not reported again", dst, alert.SequenceString(f.seq))
		}
		return
	}
	if prev != nil {
		a.Supersedes = prev.ID
		a.Reasons = append(a.Reasons, "supersedes "+prev.ID)
	}
	b.reported[di] = a
	b.reportedPorts[di] = uint8(f.distinct)
	d.remember(s, a, dst, run[len(run)-1].t, conn != nil)
	if tracing {
		d.trace(src, "run to %s %s: reported %s severity=%s confidence=%.2f reasons=[%s]", dst, alert.SequenceString(f.seq), a.ID, a.Severity, a.Confidence, joinReasons(a.Reasons))
	}
	d.deps.Emit(a)
}

func onlyICMP(run []attempt) bool {
	for _, a := range run {
		if a.proto != event.ProtoICMP && a.proto != event.ProtoICMPv6 {
			return false
		}
	}
	return true
}

// distinctPorts counts the distinct (port, protocol) pairs of a run.
func distinctPorts(run []attempt) int {
	var seen [burstCap]uint32
	n := 0
next:
	for _, a := range run {
		key := uint32(a.port) | uint32(a.proto)<<16
		for k := 0; k < n; k++ {
			if seen[k] == key {
				continue next
			}
		}
		seen[n] = key
		n++
	}
	return n
}

// facts computes the sequence and its scan- and retry-likeness.
func (d *Sequence) facts(s *seqSource, src netip.Addr, run []attempt) runFacts {
	b := &s.b
	var f runFacts
	f.attempts = len(run)
	first := run[0].t
	var seen [burstCap]uint32
	nseen := 0
	repeats := 0
	for _, a := range run {
		key := uint32(a.port) | uint32(a.proto)<<16
		dup := false
		for k := 0; k < nseen; k++ {
			if seen[k] == key {
				dup = true
				break
			}
		}
		if dup {
			repeats++
			continue
		}
		seen[nseen] = key
		nseen++
		port := a.port
		if a.proto == event.ProtoICMP || a.proto == event.ProtoICMPv6 {
			port >>= 8 // ICMP elements show their type
		}
		f.seq = append(f.seq, alert.Knock{Port: port, Proto: a.proto.String(), OffsetMS: float64(a.t-first) / 1e6})
	}
	f.distinct = nseen
	icmp := onlyICMP(run)

	// Retry-likeness: the same port again and again.
	switch {
	case nseen == 1 && len(run) >= 2:
		f.retry = true
		f.retryReason = fmt.Sprintf("one port tried %d times (retries)", len(run))
	case repeats > 0 && repeats*2 >= len(run):
		f.retry = true
		f.retryReason = fmt.Sprintf("%d of %d attempts repeat a port (retries or a health check)", repeats, len(run))
	}

	// Scan-likeness.
	add := func(w float64, reason string) {
		f.scan += w
		f.scanReasons = append(f.scanReasons, reason)
	}
	total := int(b.n) + int(b.overflow)
	switch {
	case nseen > d.cfg.MaxPorts || b.overflow > 0:
		add(1, fmt.Sprintf("%d attempts in one burst, more than a knock has", total))
	case s.horizonPorts() > d.cfg.ScanPorts:
		add(1, fmt.Sprintf("source tried about %d distinct ports within %s", s.horizonPorts(), d.cfg.ScanHorizon))
	}
	if b.manyDsts || s.horizonHosts() >= d.cfg.SweepHosts {
		add(0.6, fmt.Sprintf("source touched %d or more hosts", max(s.horizonHosts(), int(b.nd))))
	} else if b.nd > 1 {
		add(0.25, fmt.Sprintf("same burst went to %d hosts", b.nd))
	}
	if inPrefixes(src, d.allow.KnownScanners) {
		add(1, "source is a known scanner (allowlist)")
	}
	if !icmp && nseen >= 3 {
		consec := 0
		for k := 1; k < len(f.seq); k++ {
			if diff := int(f.seq[k].Port) - int(f.seq[k-1].Port); diff == 1 || diff == -1 {
				consec++
			}
		}
		if consec >= 2 {
			add(0.5, fmt.Sprintf("%d consecutive port steps", consec))
		}
	}
	if !icmp && nseen >= 5 {
		ascending := true
		for k := 1; k < len(f.seq); k++ {
			if f.seq[k].Port <= f.seq[k-1].Port {
				ascending = false
				break
			}
		}
		if ascending {
			add(0.2, "ports in ascending order (a sequential scan, as nmap -r)")
		}
	}
	wellKnown := 0
	for _, k := range f.seq {
		if !icmp && isServicePort(k.Port) {
			wellKnown++
		}
	}
	if !icmp && wellKnown > 0 {
		add(0.6*float64(wellKnown)/float64(nseen), fmt.Sprintf("%d of %d ports are common service ports", wellKnown, nseen))
	}
	scanners, shaped := 0, 0
	for _, a := range run {
		if a.shape.Scanner() {
			scanners++
		}
		if a.shape != event.ShapeUnknown {
			shaped++
		}
	}
	if scanners > 0 && scanners*2 >= len(run) {
		add(0.6, fmt.Sprintf("scanner packet shape (%s)", mostScannerShape(run)))
	}
	if run[0].proto == event.ProtoTCP && nseen >= 3 {
		same := true
		for _, a := range run[1:] {
			if a.sport != run[0].sport {
				same = false
				break
			}
		}
		if same && run[0].sport != 0 {
			add(0.4, fmt.Sprintf("every probe from source port %d (a raw-packet tool)", run[0].sport))
		}
	}
	stealth := 0
	for _, a := range run {
		if a.proto == event.ProtoTCP && a.tflags&event.FlagSYN == 0 && a.eflags&event.FlagNoTCPFlags == 0 {
			stealth++
		}
	}
	if stealth > 0 {
		add(0.6*float64(stealth)/float64(len(run)), "FIN/NULL/XMAS probes instead of SYNs (stealth scan)")
	}
	if icmp && nseen >= 2 {
		add(0.3, "ICMP types instead of ports")
	}
	f.scan = math.Min(f.scan, 1)

	// What makes it look like a knock.
	conf := 0.35
	switch {
	case nseen >= 4:
		conf = 0.6
	case nseen == 3:
		conf = 0.55
	}
	f.knockReasons = append(f.knockReasons, fmt.Sprintf("%d distinct closed ports in order within %s", nseen, fmtDur(run[len(run)-1].t-first)))
	unusual := true
	for _, k := range f.seq {
		if k.Port < 1024 || isServicePort(k.Port) {
			unusual = false
		}
	}
	if unusual && !icmp {
		conf += 0.1
		f.knockReasons = append(f.knockReasons, "unusual high ports")
	}
	clientShape := 0
	for _, a := range run {
		if a.shape == event.ShapeOSStack || a.shape == event.ShapeKnockUDP {
			clientShape++
		}
	}
	if clientShape == len(run) && shaped > 0 {
		conf += 0.05
		f.knockReasons = append(f.knockReasons, "packets shaped like a knock client's")
	}
	f.confidence = conf - f.scan*0.5
	return f
}

func mostScannerShape(run []attempt) event.Shape {
	var counts [8]int
	best := event.ShapeUnknown
	for _, a := range run {
		if a.shape.Scanner() && int(a.shape) < len(counts) {
			counts[a.shape]++
			if counts[a.shape] > counts[best] || best == event.ShapeUnknown {
				best = a.shape
			}
		}
	}
	return best
}

// knockAlert builds the alert for a knock run, or returns nil for a run
// that repeats like a health check.
func (d *Sequence) knockAlert(s *seqSource, src, dst netip.Addr, run []attempt, f runFacts, conn *connInfo) *alert.Alert {
	first, last := run[0].t, run[len(run)-1].t
	a := &alert.Alert{
		Kind:      "alert",
		Detector:  "sequence",
		Technique: alert.TechniquePortKnocking,
		Src:       src,
		Dst:       dst,
		FirstSeen: time.Unix(0, first).UTC(),
		LastSeen:  time.Unix(0, last).UTC(),
		Time:      time.Unix(0, last).UTC(),
		Sequence:  f.seq,
	}
	reasons := append([]string(nil), f.knockReasons...)
	conf := f.confidence
	if f.scan > 0 {
		reasons = append(reasons, fmt.Sprintf("scan-likeness %.2f: %s", f.scan, joinReasons(f.scanReasons)))
	}
	if run[0].eflags&event.FlagUnordered != 0 {
		reasons = append(reasons, "order within a flow-log window is not known")
	}
	// Recurrence of the same sequence from this source.
	sig := runSig(dst, f.seq)
	recurring, periodic := d.recur(s, sig, first)
	if periodic && conn == nil {
		// The third repeat at a steady interval: a health check, whose
		// first two runs were already reported at low severity at most.
		return nil
	}
	if recurring > 0 {
		conf += 0.1
		reasons = append(reasons, fmt.Sprintf("same sequence seen %d time(s) before from this source", recurring))
	}
	authName := d.authorized(dst, f.seq)
	admin := inPrefixes(src, d.allow.AdminNetworks)

	sev := alert.SeverityMedium
	if f.distinct < d.cfg.MediumPorts {
		sev = alert.SeverityLow
		reasons = append(reasons, fmt.Sprintf("only %d ports", f.distinct))
	}
	if conn != nil {
		conf += 0.25
		delay := conn.t - last
		reasons = append(reasons, fmt.Sprintf("then connected to %d/%s %s after the last knock", conn.port, conn.proto, fmtDur(delay)))
		a.FollowedBy = &alert.Connection{
			Time: time.Unix(0, conn.t).UTC(), Port: conn.port, Proto: conn.proto.String(),
			DelayMS: float64(delay) / 1e6, Evidence: d.resolve(conn.origin),
		}
		a.Time = time.Unix(0, conn.t).UTC()
		a.LastSeen = a.Time
		sev++
	}
	if authName != "" {
		a.Authorized = true
		a.AuthorizedAs = authName
		reasons = append(reasons, "matches authorized sequence "+authName)
		sev = alert.SeverityLow
		conf += 0.1
	} else if admin {
		reasons = append(reasons, "source is in an admin network")
		sev = min(sev, alert.SeverityLow)
	}
	a.Severity = sev
	a.Confidence = clamp01(conf)
	a.Reasons = reasons

	followed := ""
	if conn != nil {
		followed = fmt.Sprintf("%d/%s@%d", conn.port, conn.proto, conn.t)
	}
	a.ID = alert.IDOf("sequence", src, dst, a.FirstSeen, alert.SequenceString(f.seq), followed)
	a.Summary = fmt.Sprintf("%s knocked %s on %s", src, dst, alert.SequenceString(f.seq))
	if conn != nil {
		a.Summary += fmt.Sprintf(", then connected to %d/%s", conn.port, conn.proto)
	}
	a.EvidenceTotal = len(run)
	for _, at := range run {
		if len(a.Evidence) == alert.MaxEvidence {
			break
		}
		a.Evidence = append(a.Evidence, d.resolve(event.Origin{Input: at.input, Index: at.index}))
	}
	if conn != nil {
		a.EvidenceTotal++
		if len(a.Evidence) < alert.MaxEvidence {
			a.Evidence = append(a.Evidence, d.resolve(conn.origin))
		}
	}
	return a
}

// emitFollowed reports a knock again, now with the connection that followed.
func (d *Sequence) emitFollowed(prev *alert.Alert, conn *connInfo, last int64) {
	a := *prev
	a.Reasons = append([]string(nil), prev.Reasons...)
	a.Evidence = append([]string(nil), prev.Evidence...)
	delay := conn.t - last
	a.FollowedBy = &alert.Connection{
		Time: time.Unix(0, conn.t).UTC(), Port: conn.port, Proto: conn.proto.String(),
		DelayMS: float64(delay) / 1e6, Evidence: d.resolve(conn.origin),
	}
	a.Reasons = append(a.Reasons, fmt.Sprintf("then connected to %d/%s %s after the last knock", conn.port, conn.proto, fmtDur(delay)), "supersedes "+prev.ID)
	a.Confidence = clamp01(prev.Confidence + 0.25)
	if !a.Authorized && a.Severity < alert.SeverityHigh && a.Severity >= alert.SeverityLow {
		a.Severity++
	}
	a.Time = a.FollowedBy.Time
	a.LastSeen = a.Time
	a.Supersedes = prev.ID
	a.ID = alert.IDOf("sequence", a.Src, a.Dst, a.FirstSeen, alert.SequenceString(a.Sequence), fmt.Sprintf("%d/%s@%d", conn.port, conn.proto, conn.t))
	a.Summary += fmt.Sprintf(", then connected to %d/%s", conn.port, conn.proto)
	a.EvidenceTotal++
	if len(a.Evidence) < alert.MaxEvidence {
		a.Evidence = append(a.Evidence, a.FollowedBy.Evidence)
	}
	d.deps.Emit(&a)
}

// remember keeps a reported knock for FollowWindow, replacing an earlier
// report of the same knock or else the oldest memo.
func (d *Sequence) remember(s *seqSource, a *alert.Alert, dst netip.Addr, last int64, followed bool) {
	slot := -1
	for k := range s.knocks {
		if m := &s.knocks[k]; m.a != nil && m.dst == dst && m.a.FirstSeen.Equal(a.FirstSeen) {
			slot = k
			break
		}
	}
	if slot < 0 {
		slot = 0
		for k := range s.knocks {
			if s.knocks[k].a == nil || s.knocks[k].last < s.knocks[slot].last {
				slot = k
			}
		}
	}
	s.knocks[slot] = knockMemo{a: a, dst: dst, last: last, followed: followed}
}

// recur records a run's signature at time t and reports how often it was
// seen before from this source within the scan horizon (at most three), and
// whether those repeats came at the steady pace of a health check.
func (d *Sequence) recur(s *seqSource, sig uint64, t int64) (int, bool) {
	window := int64(d.cfg.ScanHorizon)
	slot := -1
	for k := range s.sigs {
		if s.sigs[k].n > 0 && s.sigs[k].sig == sig {
			slot = k
			break
		}
	}
	if slot < 0 {
		oldest := 0
		for k := range s.sigs {
			if s.sigs[k].n == 0 {
				oldest = k
				break
			}
			if s.sigs[k].times[0] < s.sigs[oldest].times[0] {
				oldest = k
			}
		}
		s.sigs[oldest] = sigMemo{sig: sig, n: 1}
		s.sigs[oldest].times[0] = t
		return 0, false
	}
	m := &s.sigs[slot]
	// The same run judged again (it grew, or its connection came) is not a
	// new occurrence: count what came before it.
	again := m.times[0] == t
	start := 0
	if again {
		start = 1
	}
	before := 0
	periodic := true
	prev := t
	for k := start; k < int(m.n); k++ {
		if t-m.times[k] > window {
			break
		}
		if prev-m.times[k] > periodicGap {
			periodic = false
		}
		prev = m.times[k]
		before++
	}
	if !again {
		copy(m.times[1:], m.times[:len(m.times)-1])
		m.times[0] = t
		m.n = uint8(min(int(m.n)+1, len(m.times)))
	}
	return before, before >= 2 && periodic
}

// reportScan emits a scan finding per source and scan horizon, and again,
// superseding it, each time the scan has reached twice the ports it last
// reported: a scan of 1000 ports is first judged as a burst of 16, and a
// finding frozen at that burst would understate it. At most a handful of
// findings per scan (doublings), so scans still cannot flood.
func (d *Sequence) reportScan(s *seqSource, src netip.Addr, first int64, score float64, reasons []string, distinct int) {
	if !d.cfg.ReportScansOn() {
		return
	}
	b := &s.b
	attempts := uint32(b.n) + b.overflow
	ports := max(s.horizonPorts(), distinct)
	var supersedes string
	if s.scanEmitted && first-s.scanEpoch < int64(d.cfg.ScanHorizon) {
		s.scanAttempts = satAdd32(s.scanAttempts, attempts)
		if ports < 2*int(s.scanPorts) || s.scanGen == math.MaxUint8 {
			return
		}
		supersedes = scanID(src, s.scanEpoch, s.scanGen)
		s.scanGen++
	} else {
		s.scanEmitted = true
		s.scanEpoch = first
		s.scanGen = 0
		s.scanAttempts = attempts
	}
	s.scanPorts = uint16(min(ports, math.MaxUint16))
	a := &alert.Alert{
		Kind:       "alert",
		Detector:   "scan",
		Technique:  alert.TechniqueNetworkDiscovery,
		Severity:   alert.SeverityInfo,
		Confidence: clamp01(score),
		Src:        src,
		Time:       time.Unix(0, b.last).UTC(),
		FirstSeen:  time.Unix(0, s.scanEpoch).UTC(),
		LastSeen:   time.Unix(0, b.last).UTC(),
		Reasons:    append([]string{"a scan, not a knock"}, reasons...),
	}
	if b.nd == 1 && !b.manyDsts {
		a.Dst = b.dsts[0]
	}
	// The port count is a hashed estimate over the horizon; the attempts
	// are counted. A scan cannot have tried more ports than attempts.
	portsText := fmt.Sprintf("about %d port(s)", min(ports, int(s.scanAttempts)))
	if ports >= 1000 && s.scanAttempts >= 1000 {
		portsText = "1000+ ports"
	}
	a.Summary = fmt.Sprintf("%s scanned %s on %d host(s) (%d attempts)", src, portsText, max(s.horizonHosts(), int(b.nd)), s.scanAttempts)
	a.ID = scanID(src, s.scanEpoch, s.scanGen)
	if supersedes != "" {
		a.Supersedes = supersedes
		a.Reasons = append(a.Reasons, "supersedes "+supersedes)
	}
	a.EvidenceTotal = int(s.scanAttempts)
	for k := 0; k < int(b.n) && len(a.Evidence) < 8; k++ {
		a.Evidence = append(a.Evidence, d.resolve(event.Origin{Input: b.att[k].input, Index: b.att[k].index}))
	}
	d.deps.Emit(a)
}

// scanID is the id of a source's gen-th scan finding of the epoch that
// began at first. It names no destination: a scan's target set changes
// from one finding to the next.
func scanID(src netip.Addr, first int64, gen uint8) string {
	t := time.Unix(0, first).UTC()
	if gen == 0 {
		return alert.IDOf("scan", src, netip.Addr{}, t)
	}
	return alert.IDOf("scan", src, netip.Addr{}, t, strconv.Itoa(int(gen)))
}

func satAdd32(a, b uint32) uint32 {
	if a+b < a {
		return math.MaxUint32
	}
	return a + b
}

// authorized returns the name of the configured sequence the run matches:
// the run holds it as a contiguous, ordered part (extra hits around it are
// noise the daemon ignores too).
func (d *Sequence) authorized(dst netip.Addr, seq []alert.Knock) string {
	for _, as := range d.auth {
		if len(as.Targets) > 0 && !inPrefixes(dst, as.Targets) {
			continue
		}
		n := len(as.Ports)
		for start := 0; start+n <= len(seq); start++ {
			ok := true
			for k := 0; k < n; k++ {
				p := as.Ports[k]
				if seq[start+k].Port != p.Port || seq[start+k].Proto != p.Proto.String() {
					ok = false
					break
				}
			}
			if ok {
				return as.Name
			}
		}
	}
	return ""
}

func (d *Sequence) resolve(o event.Origin) string {
	if d.deps.Origins == nil {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	return d.deps.Origins.Resolve(o)
}

func runSig(dst netip.Addr, seq []alert.Knock) uint64 {
	h := addrHash(dst)
	for _, k := range seq {
		h = mix64(h ^ uint64(k.Port) ^ uint64(len(k.Proto))<<20)
	}
	return h
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func clamp01(x float64) float64 {
	x = math.Max(0.01, math.Min(0.99, x))
	return math.Round(x*100) / 100
}

func fmtDur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

func joinReasons(r []string) string {
	out := ""
	for i, s := range r {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// mix64 is a 64-bit finalizer (splitmix64): fast and good enough to spread
// ports and addresses over small bit sets.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	lo := uint64(b[8]) | uint64(b[9])<<8 | uint64(b[10])<<16 | uint64(b[11])<<24 | uint64(b[12])<<32 | uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56
	hi := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	return mix64(lo ^ mix64(hi))
}
