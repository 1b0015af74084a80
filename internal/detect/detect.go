// Package detect holds the detectors: one file per detector, each a state
// machine over the events of the sources its engine shard owns. Detectors
// are driven by event time only (Observe and Advance), never by the wall
// clock, so a hunt over last month's logs behaves exactly like the live
// sensor did. They keep per-source state in capped tables (package state)
// and report findings through Deps.Emit.
//
// Adding a detector:
//  1. write <name>.go with a type implementing Detector;
//  2. add it to New in this file;
//  3. add scenario directories under testdata/scenarios/ that show what it
//     catches and what it must ignore.
package detect

import (
	"net/netip"
	"sync"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
)

// Detector consumes the events of one shard in time order.
type Detector interface {
	// Observe processes one event.
	Observe(ev *event.Event)
	// Advance tells the detector that event time has reached now, so work
	// that was waiting for quiet time can be done.
	Advance(now int64)
	// Flush judges everything still pending, at the end of the input.
	Flush()
	// Stats reports the detector's state size and evictions. It is safe to
	// call from another goroutine.
	Stats() Stats
}

// Stats describe a detector's state.
type Stats struct {
	Name      string
	Sources   int64
	Capacity  int64
	Evictions uint64
}

// Deps are what detectors need from the engine.
type Deps struct {
	// Emit receives findings. It is called from the shard's goroutine.
	Emit func(*alert.Alert)
	// Origins turns event origins into evidence strings ("file:line").
	Origins OriginResolver
	// Trace, if set, records the detector's reasoning about one source.
	Trace *Trace
}

// OriginResolver names where an event came from.
type OriginResolver interface {
	Resolve(event.Origin) string
}

// Trace records why a source did or did not alert (knockwatch explain).
type Trace struct {
	Src netip.Addr
	mu  sync.Mutex
	log []string
}

// On reports whether a is the traced source.
func (t *Trace) On(a netip.Addr) bool { return t != nil && t.Src == a }

// Addf records one step.
func (t *Trace) Addf(s string) {
	t.mu.Lock()
	t.log = append(t.log, s)
	t.mu.Unlock()
}

// Lines returns what was recorded.
func (t *Trace) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.log...)
}

// New builds the detectors for one shard of a run with shards shards.
func New(cfg config.Config, shards int, deps Deps) []Detector {
	return []Detector{
		NewSequence(cfg, shards, deps),
		NewSPA(cfg, shards, deps),
		NewMagic(cfg, shards, deps),
		NewDaemon(cfg, shards, deps),
		NewProcess(cfg, shards, deps),
	}
}
