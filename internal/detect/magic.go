package detect

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/state"
)

// The magic detector applies the magic-packet rules (package rules; the
// built-in set is rules/magic.yaml) to every event. A single-packet rule
// alerts on the packet that matches it; a sequence rule (cd00r's fixed SYN
// order) keeps, per source, how far along each sequence it is. One source
// gets one alert per rule and destination per magicRepeat; the packets in
// between are counted into the next alert rather than each reported, so a
// flood of triggers cannot flood alerts.

const (
	// magicRepeat is how long a (rule, destination) stays reported for one
	// source.
	magicRepeat = int64(10 * time.Minute)
	magicRecent = 4
)

type magicRecentHit struct {
	rule  int16
	dst   netip.Addr
	t     int64
	count uint32
}

type seqProgress struct {
	n       uint8
	dst     netip.Addr
	first   int64
	last    int64
	origins [rules.MaxSequencePorts]event.Origin
	times   [rules.MaxSequencePorts]int64
}

type magicSource struct {
	recent [magicRecent]magicRecentHit
	seq    [rules.MaxSequenceRules]seqProgress
	last   int64
}

// Magic is the magic-packet detector of one shard.
type Magic struct {
	rules *rules.Set
	deps  Deps
	table *state.Table[magicSource]
	now   int64

	sources    atomic.Int64
	evictions  atomic.Uint64
	suppressed atomic.Uint64
}

var _ Detector = (*Magic)(nil)

var magicEntryBytes = int64(unsafe.Sizeof(magicSource{})) + 64

// NewMagic makes the detector for one of shards shards, with cfg.Rules or,
// when unset, the built-in rules.
func NewMagic(cfg config.Config, shards int, deps Deps) *Magic {
	rs := cfg.Rules
	if rs == nil {
		var err error
		if rs, err = rules.Builtin(); err != nil {
			// The embedded file is tested; this is unreachable in a
			// released binary.
			panic("magic: built-in rules: " + err.Error())
		}
	}
	shards = max(shards, 1)
	capacity := int(int64(cfg.State.MaxBytes) / 16 / magicEntryBytes / int64(shards))
	d := &Magic{rules: rs, deps: deps, table: state.New[magicSource](max(capacity, 1024))}
	d.table.OnEvict = func(state.Key, *magicSource) { d.evictions.Add(1) }
	return d
}

// Stats reports state size and evictions.
func (d *Magic) Stats() Stats {
	return Stats{Name: "magic", Sources: d.sources.Load(), Capacity: int64(d.table.Cap()), Evictions: d.evictions.Load()}
}

// Flush has nothing pending.
func (d *Magic) Flush() {}

// Advance forgets sources idle longer than anything they hold matters.
func (d *Magic) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	keep := magicRepeat
	for _, r := range d.rules.Sequences() {
		keep = max(keep, int64(r.Match.Sequence.Within))
	}
	for n := 0; n < 64; n++ {
		i, ok := d.table.Oldest()
		if !ok || now-d.table.At(i).last <= keep {
			break
		}
		d.table.Delete(i)
	}
	d.sources.Store(int64(d.table.Len()))
}

// Observe applies the rules to one event.
func (d *Magic) Observe(ev *event.Event) {
	if ev.Kind != event.KindAttempt || !ev.Src.IsValid() {
		return
	}
	if ev.Time > d.now {
		d.now = ev.Time
	}
	var best *rules.Rule
	var also [4]*rules.Rule
	nalso := 0
	for _, r := range d.rules.ForProto(ev.Proto) {
		if !r.Matches(ev) {
			continue
		}
		switch {
		case best == nil:
			best = r
		case r.Severity > best.Severity:
			if nalso < len(also) {
				also[nalso] = best
				nalso++
			}
			best = r
		default:
			if nalso < len(also) {
				also[nalso] = r
				nalso++
			}
		}
	}
	if best != nil {
		d.single(ev, best, also[:nalso])
	}
	for k, r := range d.rules.Sequences() {
		if r.Matches(ev) {
			d.sequence(ev, k, r)
		}
	}
}

func (d *Magic) source(src netip.Addr, t int64) *magicSource {
	i, created := d.table.Insert(state.KeyOf(src))
	if created {
		d.sources.Store(int64(d.table.Len()))
	}
	s := d.table.At(i)
	s.last = max(s.last, t)
	return s
}

// repeated reports whether the source already has an alert for this rule
// and destination within magicRepeat, and counts the packet into it. It
// returns how many packets were folded into the previous alert.
func (d *Magic) repeated(s *magicSource, rule int, dst netip.Addr, t int64) (bool, uint32) {
	oldest := 0
	for k := range s.recent {
		h := &s.recent[k]
		if h.t != 0 && int(h.rule) == rule && h.dst == dst {
			if t >= h.t && t-h.t < magicRepeat {
				h.count++
				d.suppressed.Add(1)
				return true, 0
			}
			folded := h.count
			*h = magicRecentHit{rule: int16(rule), dst: dst, t: t}
			return false, folded
		}
		if h.t < s.recent[oldest].t {
			oldest = k
		}
	}
	s.recent[oldest] = magicRecentHit{rule: int16(rule), dst: dst, t: t}
	return false, 0
}

func (d *Magic) single(ev *event.Event, r *rules.Rule, also []*rules.Rule) {
	s := d.source(ev.Src, ev.Time)
	rep, folded := d.repeated(s, r.Index, ev.Dst, ev.Time)
	if rep {
		return
	}
	t := time.Unix(0, ev.Time).UTC()
	a := d.ruleAlert(r, ev.Src, ev.Dst, t, t)
	a.Summary = fmt.Sprintf("%s -> %s (%s): %s", ev.Src, ev.Dst, describePacket(ev), r.Summary)
	for _, o := range also {
		a.Reasons = append(a.Reasons, fmt.Sprintf("also matches rule %s (%s)", o.Name, o.Summary))
	}
	if folded > 0 {
		a.Reasons = append(a.Reasons, fmt.Sprintf("%d more matching packet(s) from this source in the %s before", folded, time.Duration(magicRepeat)))
	}
	for k, v := range r.Values(ev.Payload) {
		a.Attributes[k] = v
	}
	a.Evidence = []string{d.resolve(ev.Origin)}
	a.EvidenceTotal = 1
	a.ID = alert.IDOf("magic", ev.Src, ev.Dst, t, r.Name)
	d.emit(ev.Src, a)
}

func (d *Magic) ruleAlert(r *rules.Rule, src, dst netip.Addr, first, last time.Time) *alert.Alert {
	reasons := []string{
		fmt.Sprintf("matches magic-packet rule %s: %s", r.Name, r.Summary),
		"signature from " + r.Source,
	}
	attrs := map[string]string{
		"rule":      r.Name,
		"rule_file": fmt.Sprintf("%s:%d", r.File, r.Line),
	}
	if len(r.References) > 0 {
		attrs["reference"] = r.References[0]
	}
	return &alert.Alert{
		Kind:       "alert",
		Detector:   "magic",
		Technique:  r.Technique,
		Severity:   r.Severity,
		Confidence: r.Confidence,
		Reasons:    reasons,
		Src:        src,
		Dst:        dst,
		Time:       last,
		FirstSeen:  first,
		LastSeen:   last,
		Attributes: attrs,
	}
}

// sequence advances source progress through a sequence rule: the next
// expected port moves it on, another port of the sequence resets it (as
// cd00r's CDR_CODERESET does), the first port starts it again.
func (d *Magic) sequence(ev *event.Event, k int, r *rules.Rule) {
	seq := r.Match.Sequence
	key := state.KeyOf(ev.Src)
	i, ok := d.table.Peek(key)
	if !ok && ev.DstPort != seq.Ports[0] {
		return // the common case: a SYN to 80 or 22 from anyone
	}
	var s *magicSource
	if ok {
		s = d.table.At(i)
		s.last = max(s.last, ev.Time)
	} else {
		s = d.source(ev.Src, ev.Time)
	}
	p := &s.seq[k]
	if p.n > 0 && (p.dst != ev.Dst || ev.Time-p.first > int64(seq.Within)) {
		p.n = 0
	}
	switch {
	case p.n < uint8(len(seq.Ports)) && ev.DstPort == seq.Ports[p.n]:
	case ev.DstPort == seq.Ports[0]:
		p.n = 0
	default:
		if seq.ResetOnWrong {
			p.n = 0
		}
		return
	}
	if p.n == 0 {
		p.dst, p.first = ev.Dst, ev.Time
	}
	p.origins[p.n], p.times[p.n] = ev.Origin, ev.Time
	p.last = ev.Time
	p.n++
	if int(p.n) < len(seq.Ports) {
		return
	}
	p.n = 0
	if rep, _ := d.repeated(s, r.Index, ev.Dst, ev.Time); rep {
		return
	}
	first, last := time.Unix(0, p.first).UTC(), time.Unix(0, ev.Time).UTC()
	a := d.ruleAlert(r, ev.Src, ev.Dst, first, last)
	a.Summary = fmt.Sprintf("%s -> %s (tcp SYNs): %s", ev.Src, ev.Dst, r.Summary)
	for j, port := range seq.Ports {
		a.Sequence = append(a.Sequence, alert.Knock{Port: port, Proto: ev.Proto.String(), OffsetMS: float64(p.times[j]-p.first) / 1e6})
		a.Evidence = append(a.Evidence, d.resolve(p.origins[j]))
	}
	a.EvidenceTotal = len(a.Evidence)
	a.Reasons = append(a.Reasons, fmt.Sprintf("%d SYNs in the rule's order within %s", len(seq.Ports), fmtDur(ev.Time-p.first)))
	a.ID = alert.IDOf("magic", ev.Src, ev.Dst, first, r.Name, alert.SequenceString(a.Sequence))
	d.emit(ev.Src, a)
}

func (d *Magic) emit(src netip.Addr, a *alert.Alert) {
	if d.deps.Trace.On(src) {
		d.deps.Trace.Addf(fmt.Sprintf("%s magic: rule %s matched: reported %s severity=%s", a.Time.Format(time.RFC3339Nano), a.Attributes["rule"], a.ID, a.Severity))
	}
	d.deps.Emit(a)
}

func (d *Magic) resolve(o event.Origin) string {
	if d.deps.Origins == nil {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	return d.deps.Origins.Resolve(o)
}

// describePacket says where a packet went: "udp 40000 -> 53", "icmp type 8 code 8".
func describePacket(ev *event.Event) string {
	switch ev.Proto {
	case event.ProtoICMP, event.ProtoICMPv6:
		return fmt.Sprintf("%s type %d code %d", ev.Proto, ev.ICMPType, ev.ICMPCode)
	case event.ProtoTCP:
		return fmt.Sprintf("tcp %d -> %d [%s]", ev.SrcPort, ev.DstPort, ev.TCPFlags)
	}
	return fmt.Sprintf("%s %d -> %d", ev.Proto, ev.SrcPort, ev.DstPort)
}
