package kafka

import (
	"context"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/source"
)

// partition is the pipeline of one owned partition: a worker goroutine
// decodes its records in offset order into a live engine of its own (one
// lane, one shard), whose alerts go to the output; the bookkeeping here
// turns what the engine reports and what the sinks took into the offset
// and metadata to commit. See doc.go for why one engine per partition.
type partition struct {
	c      *Consumer
	topic  string
	part   int32
	name   string // "topic/partition", the prefix of evidence
	format decode.Format
	dopts  decode.Options
	dec    decode.Decoder
	day    int
	live   *engine.Live
	lane   *engine.Lane

	in        chan chunk
	closeOnce sync.Once
	done      chan struct{}

	// seed is what the previous owner committed.
	seed commitMeta
	// sent is the offset after the last record read and handed to the
	// lane; maxSent the newest event time of those records.
	sent    atomic.Int64
	maxSent int64
	// ro puts events in time order; tmp holds one record's events
	// (worker only).
	ro                   *reorder
	tmp                  []event.Event
	lateSeen, forcedSeen int64
	// told is the newest bound given to the engine (worker only).
	told int64
	hwm  atomic.Int64
	// committed is the last offset committed (-1: none yet).
	committed atomic.Int64

	mu      sync.Mutex
	settled *sync.Cond
	cur     *epoch
	pending []*epoch // sealed, oldest first
	final   bool
	// reported is the newest mark a regular progress report carried;
	// lastMark the newest mark the worker sent (read after it exits).
	reported int64
	lastMark int64
	// stopping is set once everything sent was reported: see stop.
	stopping bool
	// replaying is set while the records the previous owner read are
	// read again: alerts are not sent (it sent them).
	replaying bool
	// delivered is the engine watermark of the newest epoch whose alerts
	// were all taken by the sinks (math.MinInt64: none yet).
	delivered int64
	// resume is the offset after the records of the delivered epochs.
	resume int64
	track  offsetTracker
	// recent remembers ids sent (with their alert time), so a finding a
	// detector reports twice goes out once.
	recent map[string]int64
	// inventory maps daemon inventory ids as the detector made them to
	// the ids sent (see rebind).
	inventory map[string]string
	lastOff   int64
	lastMeta  string
}

// epoch is what the engine emitted between two progress reports.
type epoch struct {
	outstanding int
	sealed      bool
	watermark   int64
	marks       []offMark
}

type chunk struct {
	recs []*kgo.Record
	hwm  int64
}

// origins names evidence "topic/partition@offset".
func (p *partition) Resolve(o event.Origin) string {
	return p.name + "@" + strconv.FormatUint(o.Index, 10)
}

func (c *Consumer) newPartition(topic string, part int32, first int64, seed commitMeta, format decode.Format) *partition {
	p := &partition{
		c: c, topic: topic, part: part, name: topic + "/" + strconv.Itoa(int(part)), format: format,
		in: make(chan chunk, 4), done: make(chan struct{}), seed: seed,
		cur: &epoch{}, delivered: math.MinInt64, resume: -1,
		recent: map[string]int64{}, inventory: map[string]string{}, lastOff: -1, maxSent: math.MinInt64,
		reported: first, lastMark: first, ro: newReorder(c.maxQueued), replaying: seed.Resume > first, told: math.MinInt64,
	}
	p.settled = sync.NewCond(&p.mu)
	p.committed.Store(-1)
	p.sent.Store(first)
	p.track.seed(first)
	p.dopts = decode.Options{Location: c.loc, Reference: c.now()}
	p.dec = format.New(p.dopts)
	p.day = dayOf(c.now(), c.loc)
	cfg := c.partitionConfig()
	p.live = engine.NewLive(cfg, engine.LiveOptions{
		Options: engine.Options{Shards: 1, Origins: p, Alerts: p.onAlert},
		// One lane: the engine holds nothing for ordering; the worker
		// puts events in order within the lateness (reorder).
		Lateness: 0,
		IdleTick: c.opts.ReportTick,
		// Event times are clamped here against the record's timestamp,
		// not against the clock, so a replay clamps exactly as the first
		// reading did.
		MaxClockSkew: 0,
		MaxQueued:    c.maxQueued,
		Clock:        c.opts.Clock,
		Progress:     p.onProgress,
	})
	p.lane = p.live.OpenBacklogLane(p.name)
	go p.run()
	return p
}

func dayOf(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}

// run is the worker: it decodes chunks, puts their events in time order
// (reorder) and hands them to the lane; while the partition is caught up
// and quiet, it moves event time on by the quiet time (an idle tick: a
// knock at the end of a burst is judged without waiting for the
// partition's next record).
func (p *partition) run() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.c.idleTick > 0 {
		t := time.NewTicker(p.c.idleTick)
		defer t.Stop()
		tick = t.C
	}
	var (
		lastArrival time.Time
		caughtUp    bool
	)
	ctx := context.Background()
	for {
		select {
		case ch, ok := <-p.in:
			if !ok {
				return
			}
			if err := p.process(ctx, ch); err != nil {
				// The engine stopped (the partition is being dropped):
				// drain what is left without routing it.
				for range p.in {
				}
				return
			}
			lastArrival = time.Now()
			caughtUp = p.sent.Load() >= ch.hwm
		case now := <-tick:
			if !caughtUp || p.maxSent == math.MinInt64 || len(p.in) > 0 {
				continue
			}
			quiet := now.Sub(lastArrival)
			if quiet < p.c.idleTick {
				continue
			}
			bound := p.maxSent + int64(quiet) - int64(p.c.opts.Lateness)
			if bound <= p.ro.bound {
				continue
			}
			b := source.NewBatch()
			b.Events = p.ro.release(bound, b.Events)
			b.Events = append(b.Events, event.Event{Time: bound}) // a tick: no address, no kind
			p.told = bound
			if err := p.lane.Send(ctx, engine.LiveBatch{Batch: b}); err != nil {
				for range p.in {
				}
				return
			}
		}
	}
}

// batchFull is when a batch is handed to the lane before the chunk ends.
const batchFull = 896

// process decodes one chunk of records into the reorder buffer and hands
// what it releases to the lane. Each batch's mark is the offset after the
// last record read and the newest event time of the records read so far.
//
// What the engine is given is a function of the records alone (the
// buffer is released after every record), so any owner reading the same
// records gives the detectors the same events in the same order.
func (p *partition) process(ctx context.Context, ch chunk) error {
	c := p.c
	if day := dayOf(c.now(), c.loc); day != p.day {
		// Year-less stamps are dated against the current date: make the
		// decoder again when it changes.
		p.day = day
		p.dopts.Reference = c.now()
		p.dec = p.format.New(p.dopts)
	}
	newest := p.maxSent
	late := int64(c.opts.Lateness)
	b := source.NewBatch()
	defer func() { b.Release() }()
	var records, replayed, events int64
	next := p.sent.Load()
	send := func(off int64) error {
		if p.ro.bound > p.told {
			// Tell the detectors that time reached the bound: nothing
			// older is to come (but late events). A tick carries it: an
			// event without address or kind, which moves the lane's time
			// and is not routed.
			p.told = p.ro.bound
			b.Events = append(b.Events, event.Event{Time: p.told})
		}
		var lb engine.LiveBatch
		if len(b.Events) > 0 {
			lb.Batch = b
			b = source.NewBatch()
		}
		p.maxSent = newest
		p.lastMark = off
		lb.Mark = offMark{off: off, maxTime: newest}
		p.sent.Store(off)
		return p.lane.Send(ctx, lb)
	}
	for _, r := range ch.recs {
		if p.replaying && r.Offset >= p.seed.Resume {
			// Everything the previous owner read has been read again: hand
			// it over and wait until the engine has reported it, so every
			// alert it yields is known to be a replay's (see onAlert).
			if err := send(max(next, p.seed.Resume)); err != nil {
				return err
			}
			p.waitReplayed()
		}
		replay := r.Offset < p.seed.Resume
		if replay {
			replayed++
		} else {
			records++
		}
		limit := int64(math.MaxInt64)
		if c.maxSkew > 0 && !r.Timestamp.IsZero() {
			limit = r.Timestamp.UnixNano() + int64(c.maxSkew)
		}
		p.tmp = p.decodeRecord(r, replay, p.tmp[:0])
		for k := range p.tmp {
			ev := &p.tmp[k]
			if ev.Time > limit {
				ev.Time = limit
				c.clamped.Add(1)
			}
			newest = max(newest, ev.Time)
			b.Events = p.ro.add(ev, b.Events)
		}
		if !replay {
			events += int64(len(p.tmp))
		}
		clear(p.tmp)
		next = r.Offset + 1
		if newest != math.MinInt64 {
			b.Events = p.ro.release(newest-late, b.Events)
		}
		if len(b.Events) >= batchFull {
			if err := send(next); err != nil {
				return err
			}
		}
	}
	if err := send(next); err != nil {
		return err
	}
	if p.replaying && next >= p.seed.Resume {
		p.waitReplayed()
	}
	if c.opts.Stats != nil {
		c.opts.Stats.Records.Add(records)
		c.opts.Stats.Events.Add(events)
	}
	if c.opts.Replayed != nil {
		c.opts.Replayed.Add(replayed)
	}
	c.records.Add(records)
	c.replayed.Add(replayed)
	c.late.Add(p.ro.late - p.lateSeen)
	c.forced.Add(p.ro.forced - p.forcedSeen)
	p.lateSeen, p.forcedSeen = p.ro.late, p.ro.forced
	return nil
}

// waitReplayed waits until the engine reported the previous owner's resume
// position (onProgress ends the replay), or the engine stopped.
func (p *partition) waitReplayed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.replaying && !p.stopping {
		p.settled.Wait()
	}
}

// decodeRecord decodes a record's lines; errors are counted unless the
// record is replayed (counted when first read).
func (p *partition) decodeRecord(r *kgo.Record, replay bool, dst []event.Event) []event.Event {
	return decodeRecordLines(p.dec, r.Value, event.Origin{Index: uint64(r.Offset)}, dst, func(err error) {
		if !replay && p.c.opts.Stats != nil {
			p.c.opts.Stats.DecodeError(locateError(err, p.name, r.Offset, p.format.Name))
		}
	})
}

// onAlert takes an alert from the engine's shard.
func (p *partition) onAlert(a *alert.Alert) {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		p.c.handedOver.Add(1)
		p.c.log.Debug("alert judged while stopping, not sent", "partition", p.name, "id", a.ID, "time", a.Time)
		return
	}
	// Rebuilt by the replay of what the previous owner read, whose alerts
	// it sent.
	if p.replaying {
		p.mu.Unlock()
		p.c.suppressed.Add(1)
		return
	}
	p.rebind(a)
	if _, dup := p.recent[a.ID]; dup {
		p.mu.Unlock()
		p.c.deduped.Add(1)
		return
	}
	p.recent[a.ID] = a.Time.UnixNano()
	e := p.cur
	e.outstanding++
	p.mu.Unlock()
	p.c.alerts.Add(1)
	p.c.opts.Output.Submit(a, func() {
		p.mu.Lock()
		e.outstanding--
		p.settle()
		p.mu.Unlock()
	})
}

// rebind gives a daemon inventory finding an id that includes the time it
// was first seen. The detector's id names the fact alone (a knock daemon
// runs on this host), but the finding's times and evidence say when this
// reader first saw it, which a later owner of the partition, replaying
// less history, cannot reproduce: with the first-seen time in the id, one
// id keeps one content. Called with p.mu held.
func (p *partition) rebind(a *alert.Alert) {
	if a.Detector != "daemon" || a.Attributes["event"] != "daemon_present" {
		return
	}
	old := a.ID
	a.ID = alert.IDOf("daemon", netip.Addr{}, netip.Addr{}, a.FirstSeen, "inventory", a.Host, a.Attributes["programs"])
	if s, ok := p.inventory[a.Supersedes]; ok {
		a.Supersedes = s
	}
	p.inventory[old] = a.ID
}

// onProgress takes the engine's progress report: every alert emitted
// before it has gone through onAlert.
func (p *partition) onProgress(pr engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.cur
	e.sealed = true
	e.watermark = math.MinInt64
	if !pr.Final {
		// The final report of a stopping engine comes after its drain,
		// which moves the detectors' time to the clock and judges all
		// they hold (see stop): it moves nothing here.
		e.watermark = pr.Watermark
		for _, m := range pr.Marks {
			if om, ok := m.Mark.(offMark); ok {
				e.marks = append(e.marks, om)
				p.reported = max(p.reported, om.off)
			}
		}
		if p.replaying && p.reported >= p.seed.Resume {
			// Every alert of the replay has gone through onAlert.
			p.replaying = false
		}
	}
	p.pending = append(p.pending, e)
	p.cur = &epoch{}
	if pr.Final {
		p.final = true
	}
	p.settle()
}

// settle retires epochs whose alerts the sinks took. Called with p.mu held.
func (p *partition) settle() {
	n := 0
	for n < len(p.pending) && p.pending[n].outstanding == 0 {
		e := p.pending[n]
		for _, m := range e.marks {
			p.track.add(m.off, m.maxTime)
			p.resume = m.off
		}
		p.delivered = max(p.delivered, e.watermark)
		n++
	}
	if n > 0 {
		clear(p.pending[:n])
		p.pending = p.pending[n:]
		p.forget()
	}
	p.settled.Broadcast()
}

// forget drops remembered ids too old to be reported again.
func (p *partition) forget() {
	if len(p.recent) < 1024 || p.delivered == math.MinInt64 {
		return
	}
	cut := subSat(p.delivered, 2*p.c.horizon)
	for id, t := range p.recent {
		if t < cut {
			delete(p.recent, id)
		}
	}
	if len(p.recent) > 1<<16 {
		// A flood of findings within the horizon: forget the oldest half.
		var sum float64
		for _, t := range p.recent {
			sum += float64(t)
		}
		mean := int64(sum / float64(len(p.recent)))
		for id, t := range p.recent {
			if t < mean {
				delete(p.recent, id)
			}
		}
	}
}

func subSat(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// commitPoint returns the offset to commit and its metadata.
//
// With W the engine watermark of the newest epoch whose alerts were all
// delivered and H the detectors' horizon (detect.Horizon plus the
// lateness: an alert not yet emitted at watermark W depends only on events
// at or after W-H), replaying from the newest position before which every
// event is older than W-H rebuilds every alert still to come with the same
// content. The resume position is where this owner's delivered work ends.
func (p *partition) commitPoint() (int64, commitMeta, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := commitMeta{Watermark: max(p.seed.Watermark, p.delivered), Resume: max(p.seed.Resume, p.resume)}
	p.track.advance(subSat(m.Watermark, p.c.horizon))
	off, ok := p.track.replay()
	return off, m, ok
}

// stop ends the partition when it is handed over: no more records, and
// once the engine has routed and reported everything it was sent, it
// stops; the alerts it emitted are waited for, up to timeout. It reports
// whether they were all taken.
//
// A stopping engine drains: with its lanes closed its time moves to the
// clock, and the detectors judge everything they hold (a knock whose last
// packet is still to come). Those judgments are premature, so they are
// not sent, and the drain's report moves neither the commit point nor the
// suppression time. The next owner, replaying from the commit point,
// judges them with every event; it cannot emit any of them while it has
// read only records before the resume position, since this owner had read
// the same records and not judged them.
func (p *partition) stop(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.settled.Broadcast()
		p.mu.Unlock()
	})
	defer t.Stop()
	p.closeOnce.Do(func() { close(p.in) })
	<-p.done
	p.mu.Lock()
	for p.reported < p.lastMark && time.Now().Before(deadline) {
		p.settled.Wait()
	}
	p.c.log.Debug("stopping partition", "partition", p.name, "reported", p.reported, "last_mark", p.lastMark, "delivered", time.Unix(0, p.delivered).UTC(), "engine_watermark", time.Unix(0, p.live.Stats().Watermark.Load()).UTC())
	p.mu.Unlock()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !(p.final && len(p.pending) == 0 && p.cur.outstanding == 0) {
		if time.Now().After(deadline) {
			return false
		}
		p.settled.Wait()
	}
	return true
}

// halt stops the worker (if stop did not) and the engine; alerts emitted
// from here on are not sent.
func (p *partition) halt() {
	p.closeOnce.Do(func() { close(p.in) })
	<-p.done
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.live.Stop()
	p.c.addEvictions(p.live.DetectorStats())
}

// partitionConfig is the detectors' configuration for one partition: the
// state budget is shared among max_partitions partitions, the same for
// every owner.
func (c *Consumer) partitionConfig() config.Config {
	c.cfgMu.Lock()
	cfg := c.cfg
	c.cfgMu.Unlock()
	cfg.State.MaxBytes = max(cfg.State.MaxBytes/config.ByteSize(c.k.MaxPartitions), 1<<20)
	return cfg
}
