package detect

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/state"
)

// The daemon detector rebuilds, per daemon host and knocking source, each
// attempt from what knockd and fwknopd logged (formats.md 1.3, 2.4), and
// reports:
//
//   - a completed knock (knockd's OPEN SESAME, with the command it ran and
//     the firewall rule in it, and later the stop command);
//   - failed or partial knocks of one source at one door, aggregated over a
//     window (a "sequence timeout" is a failure, never progress);
//   - an SPA packet accepted (the rule fwknopd added, its expiry, its
//     removal), rejected (decryption, HMAC, age, user, ports, unknown
//     source; aggregated) or replayed;
//   - the presence of a knock daemon on a host, once per host (info).
//
// The engine routes all of a daemon host's lines to one shard (some lines
// name no source: knockd's "running command" and "non-zero status", fwknopd's
// HMAC failure and rule removal), so this detector sees a host's lines in
// order and associates them here.

const (
	// daemonSettle is how long a completed knock or an accepted SPA waits
	// for the lines that follow it (knockd's forked child logs the command
	// after the next door's stages, fwknopd adds one rule line per access).
	daemonSettle = 3 * int64(time.Second)
	// daemonAttemptIdle ends an attempt that logged no line for this long:
	// knockd's seq_timeout is 25 s by default and is logged lazily, if at
	// all, so a silent attempt is a partial knock.
	daemonAttemptIdle = 60 * int64(time.Second)
	// daemonWindow is the aggregation window of failures, rejections and
	// replays of one source (one alert per source, door and window).
	daemonWindow = 10 * int64(time.Minute)
	// daemonBrute is the number of failed or partial attempts (or rejected
	// SPA packets) in a window that looks like brute force.
	daemonBrute = 5
	// daemonCloseWait is how long an opened door or added rule is kept to
	// attach its closing (stop command, rule removal) to the alert.
	daemonCloseWait = 10 * int64(time.Minute)
	// daemonFindings caps the findings kept per source.
	daemonFindings = 6
	// daemonDoors caps the knockd attempts in progress per source.
	daemonDoors = 4
	// daemonRecent is the size of a host's rings of recent opens and rules.
	daemonRecent = 8
)

type findKind uint8

const (
	findKnock findKind = iota + 1
	findFailures
	findAccepted
	findRejected
	findReplay
)

// finding is one alert in the making.
type finding struct {
	kind      findKind
	door      string
	first     int64
	last      int64
	count     int
	maxStage  int
	stages    int
	command   string
	rule      string
	status    string // command exit status, if it failed
	closeCmd  string
	closedAt  int64
	closing   bool // knockd logged "command timeout": the next command is the stop command
	access    string
	expires   int64
	other     netip.Addr
	reasons   map[string]int
	evidence  []event.Origin
	total     int
	coarse    bool
	before    int // failed attempts before a completed knock (same window)
	emitted   *alert.Alert
	emitCount int
	deadline  int64
	dst       netip.Addr
}

type attemptRec struct {
	door     string
	stage    int
	first    int64
	last     int64
	evidence []event.Origin
	coarse   bool
}

type daemonSource struct {
	host     string
	src      netip.Addr
	srcName  string
	gen      uint32
	queued   bool
	queuedAt int64
	deadline int64
	attempts [daemonDoors]attemptRec
	findings []*finding
}

type hostRef struct {
	door string
	src  netip.Addr
	t    int64
	exp  int64
	seq  int // order of arrival: lines of one second share t
}

type daemonHost struct {
	name      string
	dst       netip.Addr
	programs  uint8
	first     int64
	origin    event.Origin
	inventory *alert.Alert
	lastSPA   hostRef
	lastCmd   hostRef
	opens     [daemonRecent]hostRef
	nOpen     int
	rules     [daemonRecent]hostRef
	nRule     int
}

// Daemon is the knock-daemon detector of one shard.
type Daemon struct {
	allow   config.Allowlist
	auth    []config.Authorized
	deps    Deps
	seed    maphash.Seed
	sources *state.Table[daemonSource]
	hosts   *state.Table[daemonHost]
	queue   deadlineQueue
	gen     uint32
	now     int64

	nSources  atomic.Int64
	evictions atomic.Uint64
}

var _ Detector = (*Daemon)(nil)

var daemonEntryBytes = int64(unsafe.Sizeof(daemonSource{})) + 512

// NewDaemon makes the detector for one of shards shards. Daemon lines are
// few next to firewall lines, so it takes a sixteenth of the state budget.
func NewDaemon(cfg config.Config, shards int, deps Deps) *Daemon {
	shards = max(shards, 1)
	capacity := int(int64(cfg.State.MaxBytes) / 16 / daemonEntryBytes / int64(shards))
	d := &Daemon{
		allow:   cfg.Allowlist,
		auth:    cfg.Authorized,
		deps:    deps,
		seed:    maphash.MakeSeed(),
		sources: state.New[daemonSource](max(capacity, 64)),
		hosts:   state.New[daemonHost](max(capacity/16, 64)),
	}
	d.sources.OnEvict = func(_ state.Key, s *daemonSource) {
		d.evictions.Add(1)
		d.settleAll(s)
	}
	d.hosts.OnEvict = func(state.Key, *daemonHost) { d.evictions.Add(1) }
	return d
}

// Stats reports state size and evictions (sources and hosts together).
func (d *Daemon) Stats() Stats {
	return Stats{Name: "daemon", Sources: d.nSources.Load(), Capacity: int64(d.sources.Cap() + d.hosts.Cap()), Evictions: d.evictions.Load()}
}

// key hashes a host name and an address into a table key. The hash is
// keyed per run, so crafted host names cannot collide on purpose; the
// entries keep the host and address themselves.
func (d *Daemon) key(host string, src netip.Addr) state.Key {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(host)
	h.WriteByte(0)
	b := src.As16()
	h.Write(b[:])
	lo := h.Sum64()
	h.WriteByte(1)
	hi := h.Sum64()
	var k state.Key
	for i := 0; i < 8; i++ {
		k[i] = byte(lo >> (8 * i))
		k[8+i] = byte(hi >> (8 * i))
	}
	return k
}

func (d *Daemon) trace(src netip.Addr, format string, args ...any) {
	if d.deps.Trace.On(src) {
		d.deps.Trace.Addf(time.Unix(0, d.now).UTC().Format("2006-01-02T15:04:05.000Z") + " daemon: " + fmt.Sprintf(format, args...))
	}
}

// Observe processes one event.
func (d *Daemon) Observe(ev *event.Event) {
	if ev.Kind != event.KindDaemon || ev.Daemon == nil {
		return
	}
	if ev.Time > d.now {
		d.now = ev.Time
	}
	dm := ev.Daemon
	h := d.host(ev)
	switch dm.What {
	case event.DaemonStage:
		d.stage(h, ev)
	case event.DaemonOpen:
		d.open(h, ev)
	case event.DaemonSequenceTimeout:
		d.seqTimeout(h, ev)
	case event.DaemonCommand:
		if dm.Program == "knockd" {
			d.knockdCommand(h, ev)
		} else {
			d.spaCommand(h, ev)
		}
	case event.DaemonCommandFailed:
		d.commandFailed(h, ev)
	case event.DaemonCommandTimeout:
		if s, _ := d.source(h, ev.Src, ev, false); s != nil {
			if f := s.find(findKnock, dm.Door); f != nil {
				f.closing = true
				f.add(ev, d.now)
			}
		}
	case event.DaemonSPAPacket:
		h.lastSPA = hostRef{door: dm.Door, src: ev.Src, t: ev.Time}
	case event.DaemonRuleAdded:
		d.ruleAdded(h, ev)
	case event.DaemonRuleRemoved:
		d.ruleRemoved(h, ev)
	case event.DaemonReplay:
		d.replay(h, ev)
	case event.DaemonDecryptFailed, event.DaemonDigestFailed, event.DaemonSPARejected, event.DaemonNoAccess:
		d.rejected(h, ev)
	}
}

// host finds or creates the host's entry, and reports the daemon's
// presence the first time a program is seen there.
func (d *Daemon) host(ev *event.Event) *daemonHost {
	dm := ev.Daemon
	i, created := d.hosts.Insert(d.key(dm.Host, netip.Addr{}))
	h := d.hosts.At(i)
	if created {
		h.name, h.first, h.origin = dm.Host, ev.Time, ev.Origin
	}
	if ev.Dst.IsValid() {
		h.dst = ev.Dst
	}
	bit := uint8(1)
	if dm.Program == "fwknopd" {
		bit = 2
	}
	if h.programs&bit == 0 {
		h.programs |= bit
		d.inventory(h, ev)
	}
	return h
}

// source finds (or with create, makes) the state of one source at a host.
func (d *Daemon) source(h *daemonHost, src netip.Addr, ev *event.Event, create bool) (*daemonSource, int32) {
	if !src.IsValid() {
		return nil, -1
	}
	k := d.key(h.name, src)
	var (
		i       int32
		ok      bool
		created bool
	)
	if create {
		i, created = d.sources.Insert(k)
		ok = true
	} else {
		i, ok = d.sources.Lookup(k)
	}
	if !ok {
		return nil, -1
	}
	s := d.sources.At(i)
	if created {
		d.gen++
		s.gen, s.host, s.src = d.gen, h.name, src
		d.nSources.Store(int64(d.sources.Len()))
	}
	if ev != nil && ev.Daemon.SrcName != "" {
		s.srcName = ev.Daemon.SrcName
	}
	return s, i
}

func (s *daemonSource) find(kind findKind, door string) *finding {
	for _, f := range s.findings {
		if f.kind == kind && f.door == door {
			return f
		}
	}
	return nil
}

// newFinding adds a finding, settling the oldest when the source holds too
// many (a source knocking many doors at once).
func (d *Daemon) newFinding(s *daemonSource, f *finding) *finding {
	if len(s.findings) >= daemonFindings {
		d.settle(s, s.findings[0], true)
		s.findings = s.findings[1:]
	}
	s.findings = append(s.findings, f)
	return f
}

func (f *finding) add(ev *event.Event, now int64) {
	f.total++
	if len(f.evidence) < alert.MaxEvidence {
		f.evidence = append(f.evidence, ev.Origin)
	}
	if ev.Time > f.last {
		f.last = ev.Time
	}
	if f.first == 0 || ev.Time < f.first {
		f.first = ev.Time
	}
	if ev.Flags&event.FlagCoarseTime != 0 {
		f.coarse = true
	}
	if ev.Dst.IsValid() {
		f.dst = ev.Dst
	}
	_ = now
}

func (f *finding) reason(r string) {
	if f.reasons == nil {
		f.reasons = map[string]int{}
	}
	f.reasons[r]++
}

// schedule asks Advance to look at the source when its earliest finding or
// attempt is due.
func (d *Daemon) schedule(i int32, s *daemonSource) {
	next := int64(0)
	for _, f := range s.findings {
		if next == 0 || f.deadline < next {
			next = f.deadline
		}
	}
	for k := range s.attempts {
		if a := &s.attempts[k]; a.stage > 0 {
			if t := a.last + daemonAttemptIdle; next == 0 || t < next {
				next = t
			}
		}
	}
	s.deadline = next
	if next == 0 || (s.queued && next >= s.queuedAt) {
		return
	}
	// An earlier deadline than the one queued is queued too; Advance
	// skips the later item when it comes due.
	s.queued, s.queuedAt = true, next
	d.queue.Push(deadlineItem{deadline: next, slot: i, gen: s.gen})
}

// --- knockd ---

func (d *Daemon) stage(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	dm := ev.Daemon
	a := s.attempt(dm.Door)
	if a == nil {
		// Too many doors at once: the oldest attempt ends as partial.
		old := 0
		for k := range s.attempts {
			if s.attempts[k].last < s.attempts[old].last {
				old = k
			}
		}
		d.endAttempt(s, &s.attempts[old], "attempt dropped: more doors in progress than kept")
		a = &s.attempts[old]
		a.door = dm.Door
	}
	if a.stage > 0 && (dm.Stage <= a.stage || dm.Stage == 1) {
		// knockd started over (a first port again): the attempt before
		// was invalidated by a wrong port, which knockd does not log.
		d.endAttempt(s, a, "abandoned")
		a.door = dm.Door
	}
	if a.stage == 0 {
		a.first = ev.Time
		a.evidence = a.evidence[:0]
	}
	a.stage = dm.Stage
	a.last = ev.Time
	if ev.Flags&event.FlagCoarseTime != 0 {
		a.coarse = true
	}
	if len(a.evidence) < alert.MaxEvidence {
		a.evidence = append(a.evidence, ev.Origin)
	}
	d.trace(ev.Src, "%s on %s: door %s stage %d", dm.Program, hostName(h.name), dm.Door, dm.Stage)
	d.schedule(i, s)
}

func (s *daemonSource) attempt(door string) *attemptRec {
	for k := range s.attempts {
		if s.attempts[k].stage > 0 && s.attempts[k].door == door {
			return &s.attempts[k]
		}
	}
	for k := range s.attempts {
		if s.attempts[k].stage == 0 {
			s.attempts[k].door = door
			return &s.attempts[k]
		}
	}
	return nil
}

// endAttempt turns an unfinished attempt into a failure of its door.
func (d *Daemon) endAttempt(s *daemonSource, a *attemptRec, how string) {
	if a.stage <= 0 {
		return
	}
	f := d.failures(s, a.door, a.first)
	f.count++
	f.maxStage = max(f.maxStage, a.stage)
	f.reason(fmt.Sprintf("%s at stage %d", how, a.stage))
	for _, o := range a.evidence {
		f.total++
		if len(f.evidence) < alert.MaxEvidence {
			f.evidence = append(f.evidence, o)
		}
	}
	f.last = max(f.last, a.last)
	f.coarse = f.coarse || a.coarse
	d.checkBrute(s, f)
	*a = attemptRec{evidence: a.evidence[:0]}
}

// failures returns the open failure aggregate of a door, starting one.
func (d *Daemon) failures(s *daemonSource, door string, t int64) *finding {
	if f := s.find(findFailures, door); f != nil {
		return f
	}
	return d.newFinding(s, &finding{kind: findFailures, door: door, first: t, last: t, deadline: t + daemonWindow})
}

// checkBrute emits a failure aggregate early once it looks like brute
// force, so the sensor does not wait for the window's end.
func (d *Daemon) checkBrute(s *daemonSource, f *finding) {
	if f.count >= daemonBrute && f.emitted == nil {
		d.emit(s, f)
	}
}

func (d *Daemon) open(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	dm := ev.Daemon
	f := &finding{kind: findKnock, door: dm.Door, deadline: ev.Time + daemonSettle}
	if a := s.attempt(dm.Door); a != nil && a.stage > 0 {
		f.first, f.stages, f.coarse = a.first, a.stage, a.coarse
		for _, o := range a.evidence {
			f.total++
			f.evidence = append(f.evidence, o)
		}
		*a = attemptRec{evidence: a.evidence[:0]}
	}
	if old := s.find(findKnock, dm.Door); old != nil {
		d.settle(s, old, true)
		s.drop(old)
	}
	// Failures at this door in the same window end with this success.
	if fl := s.find(findFailures, dm.Door); fl != nil {
		f.before = fl.count
		for _, o := range fl.evidence {
			f.total++
			if len(f.evidence) < alert.MaxEvidence {
				f.evidence = append(f.evidence, o)
			}
		}
		if fl.emitted == nil {
			s.drop(fl)
		} else {
			d.settle(s, fl, true)
			s.drop(fl)
		}
	}
	f.add(ev, d.now)
	d.newFinding(s, f)
	h.pushOpen(hostRef{door: dm.Door, src: ev.Src, t: ev.Time})
	d.trace(ev.Src, "knockd on %s: OPEN SESAME door %s after %d stage(s)", hostName(h.name), dm.Door, f.stages)
	d.schedule(i, s)
}

func (h *daemonHost) pushOpen(r hostRef) {
	h.nOpen++
	r.seq = h.nOpen
	h.opens[h.nOpen%daemonRecent] = r
}

// openFor finds the knock a door's command line belongs to: the source the
// command names if it opened that door recently, else the door's latest
// opening.
func (h *daemonHost) openFor(door string, src netip.Addr) (hostRef, bool) {
	var best hostRef
	found := false
	for k := range h.opens {
		r := h.opens[k]
		if r.door != door || r.t == 0 {
			continue
		}
		if src.IsValid() && r.src == src {
			if !found || best.src != src || r.seq > best.seq {
				best, found = r, true
			}
			continue
		}
		if !found || (best.src != src && r.seq > best.seq) {
			best, found = r, true
		}
	}
	return best, found
}

func (d *Daemon) knockdCommand(h *daemonHost, ev *event.Event) {
	dm := ev.Daemon
	ref, ok := h.openFor(dm.Door, ev.Src)
	if !ok {
		return
	}
	s, i := d.source(h, ref.src, nil, false)
	if s == nil {
		return
	}
	f := s.find(findKnock, dm.Door)
	if f == nil {
		return
	}
	f.add(ev, d.now)
	h.lastCmd = hostRef{door: dm.Door, src: ref.src, t: ev.Time}
	switch {
	case f.command == "":
		f.command, f.rule = dm.Command, dm.Rule
	case f.closing || f.command != dm.Command:
		f.closeCmd, f.closedAt = dm.Command, ev.Time
		if f.emitted != nil {
			d.emit(s, f) // the door closed: the alert now has its whole life
			f.deadline = ev.Time
		}
	}
	d.schedule(i, s)
}

func (d *Daemon) commandFailed(h *daemonHost, ev *event.Event) {
	dm := ev.Daemon
	if dm.Program == "fwknopd" {
		if s, _ := d.source(h, ev.Src, ev, false); s != nil {
			if f := s.find(findAccepted, ""); f != nil {
				f.status = strconv.Itoa(dm.Code)
				f.add(ev, d.now)
			}
		}
		return
	}
	// The status line comes from the child that ran the door's command,
	// right after the "running command" line.
	ref := h.lastCmd
	if ref.door != dm.Door || !ref.src.IsValid() {
		return
	}
	if s, _ := d.source(h, ref.src, nil, false); s != nil {
		if f := s.find(findKnock, dm.Door); f != nil {
			f.status = strconv.Itoa(dm.Code)
			f.add(ev, d.now)
			if f.emitted != nil && f.closedAt == 0 {
				d.emit(s, f)
			}
		}
	}
}

func (d *Daemon) seqTimeout(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	dm := ev.Daemon
	f := d.failures(s, dm.Door, ev.Time)
	a := s.attempt(dm.Door)
	if a != nil && a.stage > 0 {
		// The attempt's own lines become evidence of the failure; the
		// timeout line closes it.
		for _, o := range a.evidence {
			f.total++
			if len(f.evidence) < alert.MaxEvidence {
				f.evidence = append(f.evidence, o)
			}
		}
		f.first = min(f.first, a.first)
		*a = attemptRec{evidence: a.evidence[:0]}
	}
	f.count++
	f.maxStage = max(f.maxStage, dm.Stage)
	f.reason(fmt.Sprintf("sequence timeout at stage %d", dm.Stage))
	f.add(ev, d.now)
	d.trace(ev.Src, "knockd on %s: door %s sequence timeout at stage %d: a failed attempt (%d in this window)", hostName(h.name), dm.Door, dm.Stage, f.count)
	d.checkBrute(s, f)
	d.schedule(i, s)
}

// --- fwknopd ---

func (d *Daemon) ruleAdded(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	dm := ev.Daemon
	f := s.find(findAccepted, "")
	if f == nil || f.emitted != nil {
		if f != nil {
			s.drop(f)
		}
		f = d.newFinding(s, &finding{kind: findAccepted, deadline: ev.Time + daemonSettle})
		if h.lastSPA.src.IsValid() && ev.Time-h.lastSPA.t <= daemonSettle {
			f.door = ""
			f.reason("SPA packet from " + h.lastSPA.src.String() + " matched access.conf " + h.lastSPA.door)
			if h.lastSPA.src != ev.Src {
				f.other = h.lastSPA.src
			}
		}
	}
	if f.rule == "" {
		f.rule, f.access, f.expires = dm.Rule, dm.Access, dm.Expires
	} else {
		f.rule += "; " + dm.Rule
	}
	f.add(ev, d.now)
	h.rules[h.nRule%daemonRecent] = hostRef{src: ev.Src, t: ev.Time, exp: dm.Expires}
	h.nRule++
	d.trace(ev.Src, "fwknopd on %s: rule added %s (expires %s)", hostName(h.name), dm.Rule, time.Unix(0, dm.Expires).UTC().Format(time.RFC3339))
	d.schedule(i, s)
}

func (d *Daemon) spaCommand(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	if s == nil {
		return
	}
	f := s.find(findAccepted, "")
	if f == nil || f.emitted != nil {
		f = d.newFinding(s, &finding{kind: findAccepted, deadline: ev.Time + daemonSettle})
	}
	if f.command == "" {
		f.command = ev.Daemon.Command
	}
	f.add(ev, d.now)
	d.schedule(i, s)
}

func (d *Daemon) ruleRemoved(h *daemonHost, ev *event.Event) {
	exp := ev.Daemon.Expires
	for k := range h.rules {
		r := h.rules[k]
		if r.exp != exp || r.t == 0 {
			continue
		}
		s, i := d.source(h, r.src, nil, false)
		if s == nil {
			return
		}
		f := s.find(findAccepted, "")
		if f == nil || f.expires != exp {
			return
		}
		f.closedAt = ev.Time
		f.add(ev, d.now)
		if f.emitted != nil {
			d.emit(s, f)
			f.deadline = ev.Time
		}
		d.schedule(i, s)
		return
	}
}

func (d *Daemon) replay(h *daemonHost, ev *event.Event) {
	s, i := d.source(h, ev.Src, ev, true)
	f := s.find(findReplay, "")
	if f == nil {
		f = d.newFinding(s, &finding{kind: findReplay, deadline: ev.Time + daemonWindow})
	}
	f.count++
	if ev.Daemon.Other.IsValid() {
		f.other = ev.Daemon.Other
	}
	f.add(ev, d.now)
	if f.emitted == nil {
		d.emit(s, f) // a replay is high severity: report it at once
	}
	d.schedule(i, s)
}

func (d *Daemon) rejected(h *daemonHost, ev *event.Event) {
	dm := ev.Daemon
	src := ev.Src
	if !src.IsValid() && h.lastSPA.src.IsValid() && ev.Time-h.lastSPA.t <= daemonSettle {
		// "(stanza #N) Non-corresponding HMAC for this stanza" names no
		// address: it is about the packet of the line before.
		src = h.lastSPA.src
	}
	s, i := d.source(h, src, ev, true)
	if s == nil {
		return
	}
	f := s.find(findRejected, "")
	if f == nil {
		f = d.newFinding(s, &finding{kind: findRejected, first: ev.Time, deadline: ev.Time + daemonWindow})
	}
	f.count++
	switch dm.What {
	case event.DaemonDecryptFailed:
		f.reason("decryption failed (wrong key)")
	case event.DaemonDigestFailed:
		f.reason("HMAC did not match (wrong HMAC key)")
	case event.DaemonNoAccess:
		f.reason("no access.conf stanza allows this source")
	default:
		r := dm.Detail
		if k := strings.IndexAny(r, "(0123456789"); k > 0 {
			r = strings.TrimSpace(r[:k])
		}
		f.reason("refused: " + strings.TrimSuffix(r, "."))
	}
	f.add(ev, d.now)
	d.trace(src, "fwknopd on %s: SPA rejected (%s), %d in this window", hostName(h.name), dm.What, f.count)
	if f.count >= daemonBrute && f.emitted == nil {
		d.emit(s, f)
	}
	d.schedule(i, s)
}

// --- time ---

// Advance settles findings whose time has come.
func (d *Daemon) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	for d.queue.Len() > 0 {
		top := d.queue.Peek()
		if top.deadline > now {
			break
		}
		d.queue.Pop()
		if !d.sources.Live(top.slot) {
			continue
		}
		s := d.sources.At(top.slot)
		// An item other than the one last queued was overtaken by an
		// earlier deadline (see schedule) and is stale.
		if s.gen != top.gen || !s.queued || top.deadline != s.queuedAt {
			continue
		}
		s.queued = false
		d.due(top.slot, s, now)
	}
}

// due handles what is due in a source; a source with nothing left is
// dropped.
func (d *Daemon) due(i int32, s *daemonSource, now int64) {
	for k := range s.attempts {
		if a := &s.attempts[k]; a.stage > 0 && now-a.last >= daemonAttemptIdle {
			d.endAttempt(s, a, "no further stage")
		}
	}
	keep := s.findings[:0]
	for _, f := range s.findings {
		if f.deadline > now {
			keep = append(keep, f)
			continue
		}
		if d.settle(s, f, false) {
			keep = append(keep, f)
		}
	}
	clear(s.findings[len(keep):])
	s.findings = keep
	busy := len(s.findings) > 0
	for k := range s.attempts {
		busy = busy || s.attempts[k].stage > 0
	}
	if !busy {
		d.sources.Delete(i)
		d.nSources.Store(int64(d.sources.Len()))
		return
	}
	d.schedule(i, s)
}

// settle emits what a finding still owes and reports whether it should be
// kept (an opened door or rule waits for its closing). final means it is
// leaving now whatever it waits for.
func (d *Daemon) settle(s *daemonSource, f *finding, final bool) bool {
	switch f.kind {
	case findKnock, findAccepted:
		if f.emitted == nil {
			d.emit(s, f)
			if !final && f.closedAt == 0 {
				f.deadline = f.last + daemonCloseWait
				if f.expires > 0 {
					f.deadline = max(f.deadline, f.expires+daemonSettle)
				}
				return true
			}
		}
		return false
	default:
		if f.emitted == nil || f.count > f.emitCount {
			d.emit(s, f)
		}
		return false
	}
}

func (d *Daemon) settleAll(s *daemonSource) {
	for k := range s.attempts {
		d.endAttempt(s, &s.attempts[k], "state evicted")
	}
	for _, f := range s.findings {
		d.settle(s, f, true)
	}
	s.findings = nil
}

func (s *daemonSource) drop(f *finding) {
	for k, x := range s.findings {
		if x == f {
			s.findings = append(s.findings[:k], s.findings[k+1:]...)
			return
		}
	}
}

// Flush settles everything at the end of the input.
func (d *Daemon) Flush() {
	d.sources.Each(func(i int32) {
		d.settleAll(d.sources.At(i))
	})
}

// --- alerts ---

func hostName(h string) string {
	if h == "" {
		// knockd's own LogFile names no host.
		return "an unnamed host (LogFile)"
	}
	return h
}

func (d *Daemon) resolve(o event.Origin) string {
	if d.deps.Origins == nil {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	return d.deps.Origins.Resolve(o)
}

// doorSequence is the door's sequence where the configuration knows it
// (authorized sequences imported from knockd.conf are named knockd:<door>).
func (d *Daemon) doorSequence(door string) []alert.Knock {
	for _, a := range d.auth {
		if a.Name == "knockd:"+door {
			seq := make([]alert.Knock, len(a.Ports))
			for k, p := range a.Ports {
				seq[k] = alert.Knock{Port: p.Port, Proto: p.Proto.String()}
			}
			return seq
		}
	}
	return nil
}

// opensPort reads the port a firewall rule opens (--dport, "port N",
// dport N), for the analyst and the correlator.
func opensPort(rule string) string {
	f := strings.Fields(rule)
	proto := "tcp"
	port := ""
	for k := 0; k < len(f); k++ {
		switch f[k] {
		case "-p", "--protocol", "proto":
			if k+1 < len(f) {
				proto = f[k+1]
			}
		case "--dport", "--destination-port", "dport", "port":
			if k+1 < len(f) {
				port = f[k+1]
			}
		}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return ""
	}
	return port + "/" + proto
}

func fmtTime(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339) }

func (d *Daemon) emit(s *daemonSource, f *finding) {
	h, _ := d.hosts.Peek(d.key(s.host, netip.Addr{}))
	dst := f.dst
	if !dst.IsValid() && d.hosts.Live(h) {
		dst = d.hosts.At(h).dst
	}
	a := &alert.Alert{
		Kind:       "alert",
		Detector:   "daemon",
		Technique:  alert.TechniquePortKnocking,
		Src:        s.src,
		Dst:        dst,
		Host:       s.host,
		FirstSeen:  time.Unix(0, f.first).UTC(),
		LastSeen:   time.Unix(0, f.last).UTC(),
		Time:       time.Unix(0, f.last).UTC(),
		Attributes: map[string]string{},
	}
	where := hostName(s.host)
	admin := inPrefixes(s.src, d.allow.AdminNetworks)
	var idParts []string
	switch f.kind {
	case findKnock:
		a.Attributes["program"] = "knockd"
		a.Attributes["door"] = f.door
		a.Attributes["event"] = "knock_completed"
		a.Sequence = d.doorSequence(f.door)
		a.Reasons = append(a.Reasons, fmt.Sprintf("knockd on %s logged OPEN SESAME for door %s", where, f.door))
		if f.stages > 0 {
			a.Attributes["stages"] = strconv.Itoa(f.stages)
			a.Reasons[0] += fmt.Sprintf(" after stages 1-%d", f.stages)
		}
		a.Summary = fmt.Sprintf("knockd on %s opened door %s for %s", where, f.door, s.src)
		if f.command != "" {
			a.Attributes["command"] = f.command
			a.Reasons = append(a.Reasons, "ran "+f.command)
			a.Summary += ": " + f.command
		}
		if f.rule != "" {
			a.Attributes["rule"] = f.rule
			if p := opensPort(f.rule); p != "" {
				a.Attributes["opens"] = p
			}
		}
		if f.status != "" {
			a.Attributes["command_status"] = f.status
			a.Reasons = append(a.Reasons, "the command returned status "+f.status+" (it may not have opened anything)")
		}
		if f.closeCmd != "" {
			a.Attributes["stop_command"] = f.closeCmd
			a.Attributes["closed_at"] = fmtTime(f.closedAt)
			a.Reasons = append(a.Reasons, fmt.Sprintf("closed %s later: %s", fmtDur(f.closedAt-f.first), f.closeCmd))
			idParts = append(idParts, "closed")
		}
		a.Severity = alert.SeverityMedium
		a.Confidence = 0.95
		if f.before > 0 {
			a.Attributes["failed_before"] = strconv.Itoa(f.before)
			a.Reasons = append(a.Reasons, fmt.Sprintf("after %d failed or partial attempt(s) at this door", f.before))
			if f.before >= daemonBrute-1 {
				a.Severity = alert.SeverityHigh
				a.Reasons = append(a.Reasons, "a brute force that succeeded")
			}
		}
		idParts = append(idParts, "knock", f.door)
	case findFailures:
		a.Attributes["program"] = "knockd"
		a.Attributes["door"] = f.door
		a.Attributes["event"] = "knock_failed"
		a.Attributes["attempts"] = strconv.Itoa(f.count)
		a.Attributes["max_stage"] = strconv.Itoa(f.maxStage)
		a.Sequence = d.doorSequence(f.door)
		of := ""
		if len(a.Sequence) > 0 {
			of = fmt.Sprintf(" of %d", len(a.Sequence))
		}
		a.Summary = fmt.Sprintf("%s made %d failed or partial knock(s) on door %s of knockd on %s (furthest: stage %d%s)", s.src, f.count, f.door, where, f.maxStage, of)
		a.Reasons = append(a.Reasons, sortedReasons(f.reasons)...)
		a.Severity = alert.SeverityLow
		a.Confidence = 0.6
		if f.maxStage <= 1 {
			a.Confidence = 0.3
			a.Reasons = append(a.Reasons, "only first-port hits: what a scan crossing the door's first port looks like")
		}
		if f.count >= daemonBrute {
			a.Severity = alert.SeverityMedium
			a.Confidence = 0.8
			a.Reasons = append(a.Reasons, fmt.Sprintf("%d attempts within %s: brute-forcing the door", f.count, time.Duration(daemonWindow)))
		}
		idParts = append(idParts, "failures", f.door)
	case findAccepted:
		a.Attributes["program"] = "fwknopd"
		a.Attributes["event"] = "spa_accepted"
		a.Summary = fmt.Sprintf("fwknopd on %s accepted SPA from %s", where, s.src)
		a.Reasons = append(a.Reasons, sortedReasons(f.reasons)...)
		if f.rule != "" {
			a.Attributes["rule"] = f.rule
			a.Attributes["access"] = f.access
			a.Summary += ": opened " + f.access
			a.Reasons = append(a.Reasons, "added "+f.rule)
		}
		if f.expires > 0 {
			a.Attributes["expires"] = fmtTime(f.expires)
			a.Summary += " until " + time.Unix(0, f.expires).UTC().Format("15:04:05")
		}
		if f.command != "" {
			a.Attributes["command"] = f.command
			a.Summary += ", command " + f.command
			a.Reasons = append(a.Reasons, "ran "+f.command)
		}
		if f.status != "" {
			a.Attributes["command_status"] = f.status
		}
		if f.closedAt > 0 {
			a.Attributes["removed_at"] = fmtTime(f.closedAt)
			a.Reasons = append(a.Reasons, "rule removed at "+fmtTime(f.closedAt))
			idParts = append(idParts, "closed")
		}
		a.Severity = alert.SeverityMedium
		a.Confidence = 0.95
		if f.other.IsValid() {
			a.Attributes["packet_src"] = f.other.String()
			a.Reasons = append(a.Reasons, fmt.Sprintf("the packet came from %s but opened access for %s", f.other, s.src))
			a.Severity = alert.SeverityHigh
		}
		idParts = append(idParts, "spa")
	case findRejected:
		a.Attributes["program"] = "fwknopd"
		a.Attributes["event"] = "spa_rejected"
		a.Attributes["packets"] = strconv.Itoa(f.count)
		a.Summary = fmt.Sprintf("fwknopd on %s rejected %d SPA packet(s) from %s", where, f.count, s.src)
		a.Reasons = append(a.Reasons, sortedReasons(f.reasons)...)
		a.Severity = alert.SeverityLow
		a.Confidence = 0.7
		if f.count >= daemonBrute {
			a.Severity = alert.SeverityMedium
			a.Confidence = 0.85
			a.Reasons = append(a.Reasons, fmt.Sprintf("%d rejected packets within %s: guessing keys", f.count, time.Duration(daemonWindow)))
		}
		idParts = append(idParts, "spa-rejected")
	case findReplay:
		a.Attributes["program"] = "fwknopd"
		a.Attributes["event"] = "spa_replay"
		a.Attributes["packets"] = strconv.Itoa(f.count)
		a.Summary = fmt.Sprintf("fwknopd on %s detected a replayed SPA packet from %s", where, s.src)
		if f.other.IsValid() {
			a.Attributes["original_src"] = f.other.String()
			a.Summary += fmt.Sprintf(" (first sent by %s)", f.other)
		}
		a.Reasons = append(a.Reasons, "fwknopd's digest cache recognised a packet it had already accepted: someone captured and re-sent it")
		if f.count > 1 {
			a.Reasons = append(a.Reasons, fmt.Sprintf("%d replays within %s", f.count, time.Duration(daemonWindow)))
		}
		a.Severity = alert.SeverityHigh
		a.Confidence = 0.95
		idParts = append(idParts, "replay")
	}
	if s.srcName != "" {
		a.Attributes["src_name"] = s.srcName
	}
	if f.coarse {
		a.Attributes["time_precision"] = "minute"
		a.Reasons = append(a.Reasons, "times from knockd's LogFile are to the minute; lines are in file order")
	}
	if f.kind == findKnock || f.kind == findAccepted {
		if admin {
			a.Severity = alert.SeverityLow
			a.Reasons = append(a.Reasons, "source is in an admin network")
		} else {
			a.Reasons = append(a.Reasons, "source is outside the admin networks: a port was opened for it")
		}
	}
	a.EvidenceTotal = f.total
	for _, o := range f.evidence {
		a.Evidence = append(a.Evidence, d.resolve(o))
	}
	a.ID = alert.IDOf("daemon", s.src, dst, a.FirstSeen, append([]string{s.host}, idParts...)...)
	if f.emitted != nil {
		if f.emitted.ID == a.ID {
			return
		}
		a.Supersedes = f.emitted.ID
		a.Reasons = append(a.Reasons, "supersedes "+f.emitted.ID)
	}
	f.emitted = a
	f.emitCount = f.count
	d.trace(s.src, "reported %s %s severity=%s: %s", a.ID, a.Attributes["event"], a.Severity, a.Summary)
	d.deps.Emit(a)
}

func sortedReasons(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for r, n := range m {
		if n > 1 {
			r = fmt.Sprintf("%s (%d times)", r, n)
		}
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// inventory reports that a knock daemon runs on a host: one finding per
// host, renewed (superseding the last) only when another daemon program
// shows up there.
func (d *Daemon) inventory(h *daemonHost, ev *event.Event) {
	var progs []string
	if h.programs&1 != 0 {
		progs = append(progs, "knockd")
	}
	if h.programs&2 != 0 {
		progs = append(progs, "fwknopd")
	}
	where := h.name
	if where == "" {
		where = "the host whose knockd LogFile this is"
	}
	a := &alert.Alert{
		Kind:       "alert",
		Detector:   "daemon",
		Technique:  alert.TechniqueTrafficSignaling,
		Severity:   alert.SeverityInfo,
		Confidence: 0.99,
		Dst:        h.dst,
		Host:       h.name,
		Time:       time.Unix(0, ev.Time).UTC(),
		FirstSeen:  time.Unix(0, h.first).UTC(),
		LastSeen:   time.Unix(0, ev.Time).UTC(),
		Summary:    fmt.Sprintf("%s runs on %s", strings.Join(progs, " and "), where),
		Reasons:    []string{"inventory: a knock daemon opens ports to whoever sends its secret; make sure it is known and wanted"},
		Attributes: map[string]string{"event": "daemon_present", "programs": strings.Join(progs, ",")},
		Evidence:   []string{d.resolve(h.origin)},
	}
	a.EvidenceTotal = 1
	if ev.Origin != h.origin {
		a.Evidence = append(a.Evidence, d.resolve(ev.Origin))
		a.EvidenceTotal++
	}
	a.ID = alert.IDOf("daemon", netip.Addr{}, netip.Addr{}, time.Time{}, "inventory", h.name, a.Attributes["programs"])
	if h.inventory != nil {
		a.Supersedes = h.inventory.ID
		a.FirstSeen = h.inventory.FirstSeen
	}
	h.inventory = a
	d.deps.Emit(a)
}
