// Package engine runs the detectors. Events are routed by a hash of their
// source address to N shards (N = cores); a shard owns its sources' state
// exclusively and runs every detector over them in its own goroutine, so
// detectors need no locks. Event time drives everything: each batch sent to
// a shard carries the watermark (the latest event time routed so far), so a
// quiet shard still judges what is due.
package engine

import (
	"context"
	"net/netip"
	"sync"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/source"
)

// Options configure an engine.
type Options struct {
	// Shards is the number of detector goroutines; 0 means one.
	Shards int
	// Origins names evidence.
	Origins detect.OriginResolver
	// Trace records one source's story (explain).
	Trace *detect.Trace
	// Alerts receives every finding, from the shards' goroutines.
	Alerts func(*alert.Alert)
}

type shardMsg struct {
	batch     *source.Batch
	watermark int64
	flush     bool
	done      chan struct{}
}

type shard struct {
	in   chan shardMsg
	dets []detect.Detector
}

// Engine routes events to shards.
type Engine struct {
	shards    []*shard
	pending   []*source.Batch
	watermark int64
	wg        sync.WaitGroup
	closed    bool
}

// New starts an engine's shard goroutines. Call Close to stop them.
func New(cfg config.Config, opts Options) *Engine {
	n := max(opts.Shards, 1)
	e := &Engine{shards: make([]*shard, n), pending: make([]*source.Batch, n)}
	for i := range e.shards {
		sh := &shard{in: make(chan shardMsg, 4)}
		sh.dets = detect.New(cfg, n, detect.Deps{Emit: opts.Alerts, Origins: opts.Origins, Trace: opts.Trace})
		e.shards[i] = sh
		e.pending[i] = source.NewBatch()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			sh.run()
		}()
	}
	return e
}

func (sh *shard) run() {
	for msg := range sh.in {
		if msg.batch != nil {
			evs := msg.batch.Events
			for i := range evs {
				for _, d := range sh.dets {
					d.Observe(&evs[i])
				}
			}
			msg.batch.Release()
		}
		for _, d := range sh.dets {
			d.Advance(msg.watermark)
		}
		if msg.flush {
			for _, d := range sh.dets {
				d.Flush()
			}
		}
		if msg.done != nil {
			close(msg.done)
		}
	}
}

// shardOf spreads sources over shards with a fixed hash, so a run's routing
// (and any eviction under memory pressure) is the same every time.
func (e *Engine) shardOf(ev *event.Event) int {
	if len(e.shards) == 1 {
		return 0
	}
	if ev.Kind == event.KindDaemon && ev.Daemon != nil {
		// A daemon host's lines stay together: some name no source
		// (fwknopd's HMAC failure follows the line naming the sender, a
		// removed rule names only its expiry), and the host's inventory
		// finding must come from one shard.
		h := uint64(14695981039346656037)
		for i := 0; i < len(ev.Daemon.Host); i++ {
			h ^= uint64(ev.Daemon.Host[i])
			h *= 1099511628211
		}
		return int(h % uint64(len(e.shards)))
	}
	a := ev.Src
	if !a.IsValid() {
		a = ev.Dst
	}
	return int(hashAddr(a) % uint64(len(e.shards)))
}

func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// Route hands one event to its shard. It is called from one goroutine.
func (e *Engine) Route(ev *event.Event) {
	if ev.Time > e.watermark {
		e.watermark = ev.Time
	}
	i := e.shardOf(ev)
	b := e.pending[i]
	b.Events = append(b.Events, *ev)
	if len(b.Events) == cap(b.Events) {
		e.send(i, false, nil)
	}
}

// Advance sends every pending event and the current watermark to all
// shards. Call it after each input batch and on idle ticks.
func (e *Engine) Advance(now int64) {
	if now > e.watermark {
		e.watermark = now
	}
	for i := range e.shards {
		e.send(i, false, nil)
	}
}

func (e *Engine) send(i int, flush bool, done chan struct{}) {
	b := e.pending[i]
	msg := shardMsg{watermark: e.watermark, flush: flush, done: done}
	if len(b.Events) > 0 {
		msg.batch = b
		e.pending[i] = source.NewBatch()
	}
	e.shards[i].in <- msg
}

// Flush judges everything pending in every shard and waits until done.
func (e *Engine) Flush() {
	dones := make([]chan struct{}, len(e.shards))
	for i := range e.shards {
		dones[i] = make(chan struct{})
		e.send(i, true, dones[i])
	}
	for _, d := range dones {
		<-d
	}
}

// Close flushes and stops the shards.
func (e *Engine) Close() {
	if e.closed {
		return
	}
	e.closed = true
	e.Flush()
	for _, sh := range e.shards {
		close(sh.in)
	}
	e.wg.Wait()
}

// Stats sums the detectors' state statistics over shards.
func (e *Engine) Stats() []detect.Stats {
	var out []detect.Stats
	for _, sh := range e.shards {
		for j, d := range sh.dets {
			s := d.Stats()
			if j >= len(out) {
				out = append(out, s)
				continue
			}
			out[j].Sources += s.Sources
			out[j].Capacity += s.Capacity
			out[j].Evictions += s.Evictions
		}
	}
	return out
}

// RunStreams merges streams in time order and routes their events until all
// end or ctx is done. Errors from a stream end that stream only; they are
// returned joined at the end.
func (e *Engine) RunStreams(ctx context.Context, streams []source.Stream, onErr func(error)) {
	m := newMerger(streams, onErr)
	for {
		if ctx.Err() != nil {
			return
		}
		b, ok := m.next()
		if !ok {
			break
		}
		for i := range b.Events {
			e.Route(&b.Events[i])
		}
		b.Release()
		e.Advance(e.watermark)
	}
}
