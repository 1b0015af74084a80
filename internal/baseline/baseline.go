// Package baseline re-implements, faithfully, the fixed-bin port-knocking
// rule that security teams copy into their SIEMs, so the scorecard can show
// on the same data what that rule finds and what it misses.
//
// The rule groups firewall deny records into fixed one-minute bins per
// source address and keeps a source whose bin satisfies three conditions
// (the rule's three branches, joined by AND):
//
//  1. 3 to 8 distinct destination ports,
//  2. 3 to 12 deny events,
//  3. the events span 1 to 30 seconds (last minus first).
//
// It ignores port order, protocol and destination host, never looks at
// what the source did next, and a sequence cut by a bin boundary is judged
// as two unrelated halves. A SIEM evaluates such a rule when a bin closes,
// so a finding's Fired time is the end of its bin.
package baseline

import (
	"net/netip"
	"slices"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Rule holds the rule's thresholds.
type Rule struct {
	Bin       time.Duration
	MinPorts  int
	MaxPorts  int
	MinEvents int
	MaxEvents int
	MinSpan   time.Duration
	MaxSpan   time.Duration
}

// Default is the rule as published: one-minute bins, 3–8 distinct ports,
// 3–12 events, 1–30 s span.
func Default() Rule {
	return Rule{
		Bin:       time.Minute,
		MinPorts:  3,
		MaxPorts:  8,
		MinEvents: 3,
		MaxEvents: 12,
		MinSpan:   time.Second,
		MaxSpan:   30 * time.Second,
	}
}

// Finding is one source-bin the rule keeps.
type Finding struct {
	Src netip.Addr
	// BinStart is the start of the bin; Fired its end, when a scheduled
	// query over the bin would return the finding.
	BinStart, Fired time.Time
	Events          int
	// Ports are the distinct destination ports, ascending (the rule does
	// not keep their order).
	Ports       []uint16
	First, Last time.Time
}

// binKey identifies a source's bin.
type binKey struct {
	src netip.Addr
	bin int64
}

// binState is what the rule keeps per source and bin. Ports beyond
// MaxPorts+1 are not stored: one more than the maximum already decides
// condition 1.
type binState struct {
	events      int
	ports       []uint16
	first, last int64
}

// Evaluator applies a Rule to events in time order.
type Evaluator struct {
	rule     Rule
	bins     map[binKey]*binState
	cur      int64 // the latest bin seen
	started  bool
	findings []Finding
}

// New makes an evaluator.
func New(r Rule) *Evaluator {
	return &Evaluator{rule: r, bins: map[binKey]*binState{}}
}

// Deny reports whether the rule counts ev: a denied attempt with a source
// and a destination port (the rule's input is firewall deny records).
func Deny(ev *event.Event) bool {
	return ev.Kind == event.KindAttempt && ev.Action == event.ActionDenied && ev.Src.IsValid() &&
		(ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP)
}

// Observe adds one event. Events must come in time order; bins older than
// the event's are closed and judged.
func (e *Evaluator) Observe(ev *event.Event) {
	if !Deny(ev) {
		return
	}
	bin := floorDiv(ev.Time, int64(e.rule.Bin))
	if !e.started || bin > e.cur {
		e.closeBefore(bin)
		e.cur, e.started = bin, true
	}
	k := binKey{src: ev.Src.Unmap(), bin: bin}
	s := e.bins[k]
	if s == nil {
		s = &binState{first: ev.Time}
		e.bins[k] = s
	}
	s.events++
	s.first = min(s.first, ev.Time)
	s.last = max(s.last, ev.Time)
	if !slices.Contains(s.ports, ev.DstPort) && len(s.ports) <= e.rule.MaxPorts {
		s.ports = append(s.ports, ev.DstPort)
	}
}

// Close judges every open bin and returns all findings, ordered by bin,
// then source.
func (e *Evaluator) Close() []Finding {
	e.closeBefore(1<<62 - 1)
	out := e.findings
	slices.SortFunc(out, func(a, b Finding) int {
		if c := a.BinStart.Compare(b.BinStart); c != 0 {
			return c
		}
		return a.Src.Compare(b.Src)
	})
	e.findings = nil
	return out
}

func (e *Evaluator) closeBefore(bin int64) {
	for k, s := range e.bins {
		if k.bin >= bin {
			continue
		}
		delete(e.bins, k)
		if f, ok := e.judge(k, s); ok {
			e.findings = append(e.findings, f)
		}
	}
}

func (e *Evaluator) judge(k binKey, s *binState) (Finding, bool) {
	r := e.rule
	span := time.Duration(s.last - s.first)
	if len(s.ports) < r.MinPorts || len(s.ports) > r.MaxPorts ||
		s.events < r.MinEvents || s.events > r.MaxEvents ||
		span < r.MinSpan || span > r.MaxSpan {
		return Finding{}, false
	}
	ports := slices.Clone(s.ports)
	slices.Sort(ports)
	start := time.Unix(0, k.bin*int64(r.Bin)).UTC()
	return Finding{
		Src:      k.src,
		BinStart: start,
		Fired:    start.Add(r.Bin),
		Events:   s.events,
		Ports:    ports,
		First:    time.Unix(0, s.first).UTC(),
		Last:     time.Unix(0, s.last).UTC(),
	}, true
}

// Run applies r to events already in time order.
func Run(r Rule, events []event.Event) []Finding {
	e := New(r)
	for i := range events {
		e.Observe(&events[i])
	}
	return e.Close()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
