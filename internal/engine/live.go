package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/source"
)

// This file is the engine of the sensor (knockwatch watch). It drives the
// same shards and detectors as a hunt; what differs is where time comes
// from when the inputs are quiet.
//
// Event time still drives detection. Inputs deliver batches on lanes (a
// followed file, a syslog sender, a capture); Live merges the lanes in time
// order the way RunStreams merges files, except that it cannot wait forever
// for a quiet lane. Each lane therefore has a frontier, a lower bound on the
// time of the events it may still deliver (see frontierOf): the time of its
// queued head event, its newest event's time, and for a lane waiting for
// new data, the clock less the allowed lateness.
//
// The wall clock enters only there, through an injected ticker: while a
// lane is quiet its frontier moves with the clock, so the watermark passes
// a knock's settle deadline about settle+lateness after its last packet,
// even if nothing else arrives. Events are released in
// time order once no lane's frontier is below them; the detectors'
// watermark is the lowest frontier. An event older than what the detectors
// have already been told is late: it is still routed (a knock is better
// judged late than never) and counted.
//
// With one lane and no quiet time this is exactly RunStreams: every event
// is routed in the lane's order and the watermark follows the events, so a
// file followed from its start yields the same alerts as a hunt over it.

// Clock is the wall clock of a live engine. Tests inject a ManualClock;
// the sensor uses SystemClock.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel that receives the time every d, and a
	// function that stops it.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// LiveOptions configure a live engine.
type LiveOptions struct {
	Options
	// Lateness is how far out of time order events from different lanes
	// may arrive and still be put in order.
	Lateness time.Duration
	// IdleTick is how often the clock is read to move quiet lanes'
	// frontiers and to report progress (default 250ms).
	IdleTick time.Duration
	// MaxClockSkew bounds how far ahead of the clock an event's time may
	// be; later times are clamped to it and counted (0: no bound).
	MaxClockSkew time.Duration
	// MaxQueued caps the events held for ordering (about rate × lateness
	// of them); beyond it the lane with the earliest head is released
	// regardless of the others' frontiers, so a flood or a lane reading a
	// long backlog cannot make memory grow (default 65536, about 10MB).
	MaxQueued int
	// Clock is the wall clock (default SystemClock).
	Clock Clock
	// Progress is called, in order, each time every shard has processed
	// everything routed before a point: the watermark the detectors
	// reached and, per lane, the last mark whose batch was routed whole.
	// Every alert the detectors emitted up to there has been passed to
	// Alerts before Progress is called. It runs on its own goroutine.
	Progress func(Progress)
}

// Progress reports how far the detectors have got.
type Progress struct {
	// Watermark is the event time (Unix ns) every shard has reached.
	Watermark int64
	// Marks are the lanes' positions routed since the previous report.
	Marks []LaneMark
	// Final is set on the report made when the engine stops.
	Final bool
}

// LaneMark is a lane's position after a batch that was routed whole.
type LaneMark struct {
	Lane *Lane
	Mark any
	// MaxTime is the newest event time the lane delivered up to the mark.
	MaxTime int64
}

// LiveBatch is what a lane delivers.
type LiveBatch struct {
	// Batch holds the events in the lane's order; nil for a batch that
	// only moves the mark or the caught-up state.
	Batch *source.Batch
	// Mark is the input's position after these events (a file offset),
	// handed back in Progress once the batch is routed; nil for none.
	Mark any
	// CaughtUp says the lane has nothing more to read for now, so its
	// frontier may move with the clock.
	CaughtUp bool
}

// LiveStats are a live engine's counters.
type LiveStats struct {
	// Late counts events older than the detectors' watermark when they
	// were released.
	Late atomic.Int64
	// Clamped counts events dated further ahead of the clock than
	// MaxClockSkew.
	Clamped atomic.Int64
	// Forced counts releases made because MaxQueued was reached.
	Forced atomic.Int64
	// Queued is the number of events held for ordering now.
	Queued atomic.Int64
	// Watermark is the detectors' watermark (Unix ns).
	Watermark atomic.Int64
}

// Live is the sensor's engine.
type Live struct {
	eng   *Engine
	opts  LiveOptions
	in    chan laneMsg
	ctl   chan func()
	stats LiveStats

	lanes  []*Lane
	queued int
	// frontier is the watermark given to the detectors.
	frontier int64
	marks    []LaneMark

	barriers chan barrier
	waiterWG sync.WaitGroup
	done     chan struct{}
	stopOnce sync.Once
	closing  chan struct{}
	// flushOnStop is set by StopAndFlush before closing is closed.
	flushOnStop bool
}

// Lane is one ordered flow of events into a live engine.
type Lane struct {
	live *Live
	name string

	// owned by the engine goroutine
	q           []*LiveBatch
	pos         int // index of the next event in q[0]
	caughtUp    bool
	closed      bool
	seen        bool
	maxTime     int64
	lastArrival time.Time
}

type laneMsg struct {
	lane  *Lane
	b     *LiveBatch
	open  bool
	close bool
}

type barrier struct {
	dones    []chan struct{}
	progress Progress
}

// NewLive starts a live engine. Stop it with Stop.
func NewLive(cfg config.Config, opts LiveOptions) *Live {
	if opts.IdleTick <= 0 {
		opts.IdleTick = 250 * time.Millisecond
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 1 << 16
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	l := &Live{
		eng:      New(cfg, opts.Options),
		opts:     opts,
		in:       make(chan laneMsg, 64),
		ctl:      make(chan func()),
		barriers: make(chan barrier, 16),
		done:     make(chan struct{}),
		closing:  make(chan struct{}),
		frontier: -1 << 63,
	}
	l.waiterWG.Add(1)
	go l.waitBarriers()
	go l.loop()
	return l
}

// Stats returns the live engine's counters.
func (l *Live) Stats() *LiveStats { return &l.stats }

// DetectorStats sums the detectors' state statistics over shards.
func (l *Live) DetectorStats() []detect.Stats { return l.eng.Stats() }

// ErrStopped is returned by lanes of a stopped engine.
var ErrStopped = errors.New("engine stopped")

// OpenLane adds a live lane (a syslog connection, a capture): it delivers
// what arrives as it arrives, so until it delivers anything it is held to
// the clock less the lateness. name is for messages only.
func (l *Live) OpenLane(name string) *Lane { return l.openLane(name, true) }

// OpenBacklogLane adds a lane that may first read a backlog (a file from a
// saved position, the journal after a cursor): until it delivers events or
// says it caught up, nothing is released past it and the detectors' time
// does not move.
func (l *Live) OpenBacklogLane(name string) *Lane { return l.openLane(name, false) }

func (l *Live) openLane(name string, live bool) *Lane {
	ln := &Lane{live: l, name: name, caughtUp: live}
	select {
	case l.in <- laneMsg{lane: ln, open: true}:
	case <-l.closing:
	}
	return ln
}

// Name returns the lane's name.
func (ln *Lane) Name() string { return ln.name }

// Send hands a batch to the engine, waiting while the engine is behind
// (back-pressure reaches the input). The engine owns b.Batch afterwards.
func (ln *Lane) Send(ctx context.Context, b LiveBatch) error {
	select {
	case ln.live.in <- laneMsg{lane: ln, b: &b}:
		return nil
	case <-ctx.Done():
		if b.Batch != nil {
			b.Batch.Release()
		}
		return ctx.Err()
	case <-ln.live.closing:
		if b.Batch != nil {
			b.Batch.Release()
		}
		return ErrStopped
	}
}

// Close says the lane will send no more; what it sent is still routed.
func (ln *Lane) Close() {
	select {
	case ln.live.in <- laneMsg{lane: ln, close: true}:
	case <-ln.live.closing:
	}
}

// Reconfigure gives every detector a new configuration without losing
// state. The shards are paused at a barrier (they wait on their channels,
// and only the engine goroutine sends to them), each detector that
// implements detect.Reconfigurer takes cfg there, and the shards resume
// with the next message. It returns the names of detectors that kept
// their configuration because they cannot take a new one.
func (l *Live) Reconfigure(cfg config.Config) ([]string, error) {
	var kept []string
	done := make(chan struct{})
	f := func() {
		defer close(done)
		dones := make([]chan struct{}, len(l.eng.shards))
		for i := range l.eng.shards {
			dones[i] = make(chan struct{})
			l.eng.send(i, false, dones[i])
		}
		for _, d := range dones {
			<-d
		}
		seen := map[string]bool{}
		for _, sh := range l.eng.shards {
			for _, d := range sh.dets {
				if r, ok := d.(detect.Reconfigurer); ok {
					r.Reconfigure(cfg)
				} else if name := d.Stats().Name; !seen[name] {
					seen[name] = true
					kept = append(kept, name)
				}
			}
		}
	}
	select {
	case l.ctl <- f:
	case <-l.closing:
		return nil, ErrStopped
	}
	<-done
	return kept, nil
}

// Stop routes everything the lanes sent, makes a final progress report and
// stops the shards. It does not flush the detectors: what they still hold
// (a knock not yet judged) is rebuilt after a restart by replaying the
// inputs from their checkpoints, so a restart changes no alert. Call it
// after the inputs have stopped sending.
func (l *Live) Stop() {
	l.stopOnce.Do(func() {
		close(l.closing)
		<-l.done
	})
}

// StopAndFlush is Stop, but judges everything the detectors hold first
// (for inputs that end, such as a test replaying a file).
func (l *Live) StopAndFlush() {
	l.stopOnce.Do(func() {
		l.flushOnStop = true
		close(l.closing)
		<-l.done
	})
}

func (l *Live) loop() {
	tick, stopTick := l.opts.Clock.NewTicker(l.opts.IdleTick)
	defer stopTick()
	for {
		select {
		case m := <-l.in:
			l.handle(m)
			// Take what else is waiting before releasing, so a burst of
			// batches is merged at once.
			for n := 0; n < 64; n++ {
				select {
				case m := <-l.in:
					l.handle(m)
					continue
				default:
				}
				break
			}
			l.release(l.opts.Clock.Now())
		case f := <-l.ctl:
			l.release(l.opts.Clock.Now())
			f()
		case <-tick:
			l.release(l.opts.Clock.Now())
			l.report(false)
		case <-l.closing:
			l.drainAndStop()
			return
		}
	}
}

func (l *Live) drainAndStop() {
	// Lanes that are still sending get ErrStopped; take what is already
	// in the channel.
	for {
		select {
		case m := <-l.in:
			l.handle(m)
			continue
		default:
		}
		break
	}
	// No lane will send again: everything queued can go, in time order.
	for _, ln := range l.lanes {
		ln.closed = true
	}
	l.release(l.opts.Clock.Now())
	if l.flushOnStop {
		l.eng.Flush()
	}
	l.report(true)
	close(l.barriers)
	l.waiterWG.Wait()
	for _, sh := range l.eng.shards {
		close(sh.in)
	}
	l.eng.wg.Wait()
	l.eng.closed = true
	close(l.done)
}

func (l *Live) handle(m laneMsg) {
	ln := m.lane
	switch {
	case m.open:
		l.lanes = append(l.lanes, ln)
	case m.close:
		ln.closed = true
	case m.b != nil:
		now := l.opts.Clock.Now()
		b := m.b
		if b.Batch != nil && len(b.Batch.Events) > 0 {
			limit := int64(1<<63 - 1)
			if l.opts.MaxClockSkew > 0 {
				limit = now.Add(l.opts.MaxClockSkew).UnixNano()
			}
			evs := b.Batch.Events
			for i := range evs {
				if evs[i].Time > limit {
					evs[i].Time = limit
					l.stats.Clamped.Add(1)
				}
				if evs[i].Time > ln.maxTime || !ln.seen {
					ln.maxTime = evs[i].Time
					ln.seen = true
				}
			}
			ln.lastArrival = now
			l.queued += len(evs)
		}
		ln.caughtUp = b.CaughtUp
		// A small batch joins the lane's last queued one when it fits and
		// no mark lies between them: queued events would otherwise keep a
		// pooled array of 1024 events each (155KB) for a handful of events
		// (a syslog connection hands over what one read brought).
		if n := len(ln.q); n > 0 && b.Batch != nil && b.Mark == nil {
			last := ln.q[n-1]
			if last.Mark == nil && last.Batch != nil && (n > 1 || ln.pos == 0) &&
				len(last.Batch.Events)+len(b.Batch.Events) <= cap(last.Batch.Events) {
				last.Batch.Events = append(last.Batch.Events, b.Batch.Events...)
				last.CaughtUp = b.CaughtUp
				b.Batch.Release()
				return
			}
		}
		ln.q = append(ln.q, b)
	}
}

// frontierOf is the earliest time lane ln may still deliver, ignoring its
// queue; ok is false for a lane that constrains nothing (a closed one).
// Another input may lag this one by up to the lateness (a sender whose
// stamps have whole seconds, a relay's delay, clock skew), so every bound
// is less the lateness: events go out once every lane has passed them by
// the lateness, the bounded out-of-orderness of stream processors.
//
//   - A lane reading a backlog: its newest event (its events are in its
//     own order).
//   - A lane that is caught up delivers live events next: its newest event
//     plus the quiet time since (its clock moves on while it is quiet),
//     and at least the clock (a file not written for an hour must not hold
//     the other inputs an hour back).
//   - A live lane that has delivered nothing yet (a new connection): the
//     clock. A backlog lane that has not: anything at all.
func (l *Live) frontierOf(ln *Lane, now time.Time) (int64, bool) {
	if ln.closed {
		return 0, false
	}
	late := int64(l.opts.Lateness)
	if !ln.seen {
		if !ln.caughtUp {
			return -1 << 63, true
		}
		return now.UnixNano() - late, true
	}
	if !ln.caughtUp {
		return ln.maxTime - late, true
	}
	quiet := int64(now.Sub(ln.lastArrival))
	if quiet < 0 {
		quiet = 0
	}
	return max(ln.maxTime+quiet, now.UnixNano()) - late, true
}

// headTime is the time of the lane's next queued event.
func (ln *Lane) headTime() (int64, bool) {
	for k, b := range ln.q {
		start := 0
		if k == 0 {
			start = ln.pos
		}
		if b.Batch != nil && start < len(b.Batch.Events) {
			return b.Batch.Events[start].Time, true
		}
	}
	return 0, false
}

// release routes every event no lane can still precede, then advances the
// detectors to the lowest frontier.
func (l *Live) release(now time.Time) {
	routed := false
	for {
		// The lane with the earliest head, and the bound the others set.
		var (
			best     *Lane
			bestT    int64
			bound    = int64(1<<63 - 1)
			nonEmpty int
		)
		// A lane with queued events bounds the others by its head and by
		// its frontier: what it sends next may still be up to the lateness
		// older than what it queued.
		var bestBound int64
		for _, ln := range l.lanes {
			l.popEmpty(ln)
			lb := int64(1<<63 - 1)
			if f, ok := l.frontierOf(ln, now); ok {
				lb = f
			}
			t, ok := ln.headTime()
			if !ok {
				bound = min(bound, lb)
				continue
			}
			nonEmpty++
			lb = min(lb, t)
			if best == nil || t < bestT {
				if best != nil {
					bound = min(bound, bestBound)
				}
				best, bestT, bestBound = ln, t, lb
			} else {
				bound = min(bound, lb)
			}
		}
		if best == nil {
			break
		}
		forced := false
		if bestT > bound {
			if l.queued <= l.opts.MaxQueued {
				break
			}
			forced = true
			l.stats.Forced.Add(1)
		}
		n := l.take(best, bound, forced)
		routed = routed || n > 0
	}
	l.dropClosed()
	// The detectors' watermark: the lowest bound of all lanes, queued
	// events included.
	wm := int64(1<<63 - 1)
	for _, ln := range l.lanes {
		if t, ok := ln.headTime(); ok {
			wm = min(wm, t)
		}
		if f, ok := l.frontierOf(ln, now); ok {
			wm = min(wm, f)
		}
	}
	if wm == int64(1<<63-1) && len(l.lanes) == 0 && l.eng.watermark != 0 {
		// No lane left (every sender disconnected): a lane that opens
		// later is held to the clock less the lateness, so time moves on
		// and what the detectors hold is judged.
		wm = now.UnixNano() - int64(l.opts.Lateness)
	}
	if wm != int64(1<<63-1) && wm > l.frontier {
		l.frontier = wm
	}
	if routed || l.frontier > l.eng.watermark {
		l.eng.Advance(max(l.frontier, l.eng.watermark))
		l.stats.Watermark.Store(l.eng.watermark)
	}
	l.stats.Queued.Store(int64(l.queued))
}

// take routes events from the head of ln while they are at or before
// bound (all of them until the queue is empty when forced is set for the
// first), and records the marks of batches routed whole.
func (l *Live) take(ln *Lane, bound int64, forced bool) int {
	n := 0
	for len(ln.q) > 0 {
		b := ln.q[0]
		if b.Batch != nil {
			evs := b.Batch.Events
			for ln.pos < len(evs) {
				ev := &evs[ln.pos]
				if ev.Time > bound && !(forced && n == 0) {
					return n
				}
				if ev.Time < l.frontier {
					// The detectors were told no event before the
					// frontier would come.
					l.stats.Late.Add(1)
				}
				if !source.IsTick(ev) {
					l.eng.Route(ev)
				}
				ln.pos++
				n++
				l.queued--
			}
			b.Batch.Release()
		}
		if b.Mark != nil {
			l.marks = append(l.marks, LaneMark{Lane: ln, Mark: b.Mark, MaxTime: ln.maxTime})
		}
		ln.q[0] = nil
		ln.q = ln.q[1:]
		ln.pos = 0
	}
	return n
}

// popEmpty routes nothing but retires leading batches that hold no more
// events, recording their marks.
func (l *Live) popEmpty(ln *Lane) {
	for len(ln.q) > 0 {
		b := ln.q[0]
		if b.Batch != nil && ln.pos < len(b.Batch.Events) {
			return
		}
		if b.Batch != nil {
			b.Batch.Release()
		}
		if b.Mark != nil {
			l.marks = append(l.marks, LaneMark{Lane: ln, Mark: b.Mark, MaxTime: ln.maxTime})
		}
		ln.q[0] = nil
		ln.q = ln.q[1:]
		ln.pos = 0
	}
}

func (l *Live) dropClosed() {
	keep := l.lanes[:0]
	for _, ln := range l.lanes {
		if ln.closed && len(ln.q) == 0 {
			continue
		}
		keep = append(keep, ln)
	}
	clear(l.lanes[len(keep):])
	l.lanes = keep
}

// report sends a barrier through every shard; when all have passed it, the
// waiter calls Progress. A final report is always made; others are skipped
// while the waiter is behind.
func (l *Live) report(final bool) {
	if l.opts.Progress == nil {
		l.marks = l.marks[:0]
		return
	}
	if !final && len(l.barriers) == cap(l.barriers) {
		return
	}
	br := barrier{
		dones:    make([]chan struct{}, len(l.eng.shards)),
		progress: Progress{Watermark: l.eng.watermark, Marks: l.marks, Final: final},
	}
	l.marks = nil
	for i := range l.eng.shards {
		br.dones[i] = make(chan struct{})
		l.eng.send(i, false, br.dones[i])
	}
	l.barriers <- br
}

func (l *Live) waitBarriers() {
	defer l.waiterWG.Done()
	for br := range l.barriers {
		for _, d := range br.dones {
			<-d
		}
		l.opts.Progress(br.progress)
	}
}
