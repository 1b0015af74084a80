package kafka

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/correlate"
)

// CorrelatorOptions configure a Correlator.
type CorrelatorOptions struct {
	Conn config.KafkaConn
	// From is the alerts topic the sensors' kafka sinks write; To the
	// topic incidents go to.
	From, To string
	// Group is the correlator's consumer group (default
	// "knockwatch-correlate").
	Group string
	// StartAt is where a partition without a committed offset starts:
	// "end" or "beginning".
	StartAt string
	// Window is how far apart two alerts of one knock may be (default
	// correlate's 2 minutes).
	Window time.Duration
	// Lateness is how far out of time order alerts may arrive across the
	// alerts topic's partitions (default 1 minute): an alert is held
	// until the newest alert seen is the lateness past it.
	Lateness time.Duration
	// MaxAlerts caps the alerts held, for ordering and in the window
	// (default correlate.DefaultStreamCap for the window, four times that
	// for ordering).
	MaxAlerts int
	// CommitInterval is how often offsets are committed (default 1s).
	CommitInterval time.Duration
	// IdleTick is how long a poll waits for records before event time is
	// moved on by the clock (default 250ms).
	IdleTick   time.Duration
	Logger     *slog.Logger
	ClientOpts []kgo.Opt
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Correlator joins alerts into incidents downstream of a consumer group.
// A group's instances each own some sources, and one knock's alerts have
// different sources and keys (the client run is keyed by the client's
// address, the daemon's lines by its host, the knock by its source), so no
// instance sees a whole knock; the correlator reads the whole alerts topic
// and runs the sensor's streaming correlation (correlate.Stream) over it,
// producing each incident, keyed by source, to the incidents topic. The
// alerts stay where they are: it produces only incidents.
//
// Order: alerts are put back in time order across partitions (held until
// the newest alert is Lateness past them); while the topic is idle, event
// time moves on with the clock, so the last incident of a quiet night is
// not held until the next alert. Repeated ids (a sensor sends an alert
// again after a crash) are dropped; one id seen with two contents is
// counted and logged, the first kept.
//
// Offsets: a record's offset is committed once its alert can join no
// incident still to come (it is older than twice the window behind the
// released time) and the incidents made so far are acknowledged. After a
// crash or a rebalance, the records after the committed offsets are read
// again and the incidents they make are produced again, with the same ids
// (an incident's id is derived from its members' ids): at least once.
//
// Every rebalance revokes every partition (an eager balancer): the window
// spans all partitions, so a member that keeps some of them could not keep
// its window anyway. Run one instance per alerts topic; a second one in
// the same group stands by and takes over when the first leaves.
type Correlator struct {
	opts CorrelatorOptions
	log  *slog.Logger
	cl   *kgo.Client

	// mu guards the window state: the poll loop and the group callbacks
	// never run at once (BlockRebalanceOnPoll), but a revoke at close may
	// come from the client's own goroutine.
	mu       sync.Mutex
	held     alert.Heap
	stream   *correlate.Stream
	seen     map[string]seenAlert
	parts    map[tp]*corrPart
	released int64
	newest   int64
	lastRecv time.Time
	seed     maphash.Seed

	perr atomic.Pointer[error]

	records, alerts, dup, conflict, bad, late, forced, skipped atomic.Int64
	incidents, produced, produceErrs, commitsOK, commitsFailed atomic.Int64
	resets, seenResets                                         atomic.Int64
	lagMu                                                      sync.Mutex
	lag                                                        map[tp]int64
}

type seenAlert struct {
	hash uint64
	t    int64
}

// corrPart is one partition's records not yet safe to commit past.
type corrPart struct {
	pend []pendRec // in offset order
	head int
	next int64 // the offset after the last record read
}

type pendRec struct {
	off int64
	t   int64 // the alert's time; doneAt for records that wait for nothing
}

// doneAt marks a pending record that holds nothing back (a duplicate, a
// line that is not an alert).
const doneAt = minTime

// NewCorrelator makes a correlator; nothing is contacted before Run.
func NewCorrelator(opts CorrelatorOptions) (*Correlator, error) {
	if opts.From == "" || opts.To == "" || opts.From == opts.To {
		return nil, errors.New("correlate: need two different topics, from and to")
	}
	if opts.Group == "" {
		opts.Group = "knockwatch-correlate"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lateness <= 0 {
		opts.Lateness = time.Minute
	}
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = correlate.DefaultStreamCap
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	if opts.IdleTick <= 0 {
		opts.IdleTick = 250 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	kopts, err := ClientOpts(opts.Conn)
	if err != nil {
		return nil, fmt.Errorf("correlate: %w", err)
	}
	start := kgo.NewOffset().AtEnd()
	if opts.StartAt == "beginning" {
		start = kgo.NewOffset().AtStart()
	}
	c := &Correlator{opts: opts, log: opts.Logger, lag: map[tp]int64{}, seed: maphash.MakeSeed()}
	c.reset()
	kopts = append(kopts,
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.From),
		kgo.Balancers(kgo.RoundRobinBalancer()), // eager: see the type's comment
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.ConsumeResetOffset(start),
		kgo.DefaultProduceTopic(opts.To),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithLogger(kgoLogger{c.log}),
	)
	kopts = append(kopts, opts.ClientOpts...)
	if c.cl, err = kgo.NewClient(kopts...); err != nil {
		return nil, fmt.Errorf("correlate: %w", err)
	}
	return c, nil
}

// reset forgets the window: after a rebalance the records after the
// committed offsets are read again and rebuild it.
func (c *Correlator) reset() {
	c.held = c.held[:0]
	c.stream = correlate.NewStream(c.opts.Window, c.opts.MaxAlerts)
	c.seen = map[string]seenAlert{}
	c.parts = map[tp]*corrPart{}
	c.released, c.newest = minTime, minTime
}

// Run correlates until ctx is done, then commits what is safe to commit
// and leaves the group. Incidents still open at that point are not
// produced: the next run (or the instance that takes over) reads their
// alerts again and produces them complete. It returns an error when
// incidents could not be produced.
func (c *Correlator) Run(ctx context.Context) error {
	defer c.cl.CloseAllowingRebalance()
	lastCommit := c.opts.Now()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, c.opts.IdleTick)
		fs := c.cl.PollRecords(pctx, 4096)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("fetch", "topic", topic, "partition", part, "err", err)
			}
		})
		c.mu.Lock()
		n := 0
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				c.take(r)
				n++
			}
			if k := len(ftp.Records); k > 0 {
				c.lagMu.Lock()
				c.lag[tp{ftp.Topic, ftp.Partition}] = max(0, ftp.HighWatermark-ftp.Records[k-1].Offset-1)
				c.lagMu.Unlock()
			}
		})
		now := c.opts.Now()
		if n > 0 {
			c.lastRecv = now
		}
		c.advance(now, n == 0)
		c.mu.Unlock()
		if p := c.perr.Load(); p != nil {
			c.cl.AllowRebalance()
			return fmt.Errorf("correlate: produce to %s: %w", c.opts.To, *p)
		}
		if now.Sub(lastCommit) >= c.opts.CommitInterval {
			lastCommit = now
			if err := c.commit(ctx); err != nil {
				c.cl.AllowRebalance()
				if ctx.Err() != nil {
					break // stopping mid-commit: the final commit has its own deadline
				}
				return err
			}
		}
		c.cl.AllowRebalance()
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.commit(cctx)
}

// take reads one record of the alerts topic.
func (c *Correlator) take(r *kgo.Record) {
	c.records.Add(1)
	key := tp{r.Topic, r.Partition}
	p := c.parts[key]
	if p == nil {
		p = &corrPart{}
		c.parts[key] = p
	}
	p.next = r.Offset + 1
	pend := func(t int64) { p.pend = append(p.pend, pendRec{off: r.Offset, t: t}) }
	var a alert.Alert
	if err := json.Unmarshal(r.Value, &a); err != nil || a.ID == "" || a.Time.IsZero() {
		c.bad.Add(1)
		if err == nil {
			err = errors.New("no id or time")
		}
		c.log.Warn("not a knockwatch alert", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		pend(doneAt)
		return
	}
	if a.Kind == "incident" {
		// Another correlator's (or a single sensor's) incident: this one
		// makes its own from the members.
		c.skipped.Add(1)
		pend(doneAt)
		return
	}
	t := a.Time.UnixNano()
	h := maphash.Bytes(c.seed, r.Value)
	if s, ok := c.seen[a.ID]; ok {
		if s.hash == h {
			c.dup.Add(1)
		} else {
			c.conflict.Add(1)
			c.log.Warn("one alert id with two contents; the first is kept", "id", a.ID, "partition", r.Partition, "offset", r.Offset)
		}
		pend(doneAt)
		return
	}
	if len(c.seen) >= 8*c.opts.MaxAlerts {
		// De-duplication is bounded: past the cap it starts over. A
		// repeat of an alert forgotten here enters the window twice;
		// Join gives each wire or daemon alert to one group, so the copy
		// mostly stays alone and makes no incident.
		c.seenResets.Add(1)
		clear(c.seen)
	}
	c.seen[a.ID] = seenAlert{hash: h, t: t}
	c.alerts.Add(1)
	pend(t)
	c.newest = max(c.newest, t)
	if t <= c.released {
		// Later than the lateness: it joins what is still open.
		c.late.Add(1)
		c.stream.Add(&a)
		return
	}
	heap.Push(&c.held, &a)
	if len(c.held) > 4*c.opts.MaxAlerts {
		// A burst beyond the cap: release the oldest out of turn.
		c.forced.Add(1)
		c.release(c.held[0].Time.UnixNano())
	}
}

// advance releases what the newest alert (or, while the topic is idle,
// the clock) allows and produces the incidents that can no longer grow.
func (c *Correlator) advance(now time.Time, idle bool) {
	if c.newest == minTime {
		return
	}
	wm := c.newest - int64(c.opts.Lateness)
	if idle {
		// Event time goes on with the clock while nothing arrives.
		wm += int64(now.Sub(c.lastRecv))
	}
	c.release(wm)
}

func (c *Correlator) release(wm int64) {
	if wm <= c.released {
		return
	}
	for len(c.held) > 0 && c.held[0].Time.UnixNano() <= wm {
		a := heap.Pop(&c.held).(*alert.Alert)
		c.stream.Add(a)
	}
	c.released = wm
	for _, in := range c.stream.Advance(wm, false) {
		c.produce(in)
	}
	cut := c.stream.Horizon(wm)
	for id, s := range c.seen {
		if s.t < cut {
			delete(c.seen, id)
		}
	}
}

func (c *Correlator) produce(in *alert.Alert) {
	c.incidents.Add(1)
	rec, err := alertRecord(in)
	if err != nil {
		c.produceErrs.Add(1)
		c.log.Error("encode incident", "id", in.ID, "err", err)
		return
	}
	c.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			c.produceErrs.Add(1)
			c.perr.CompareAndSwap(nil, &err)
			return
		}
		c.produced.Add(1)
	})
}

// commit waits for the incidents produced so far and commits, per
// partition, the offset of the first record whose alert may still join
// an incident to come.
func (c *Correlator) commit(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := c.cl.Flush(fctx)
	cancel()
	if p := c.perr.Load(); p != nil {
		err = *p
	}
	if err != nil {
		return fmt.Errorf("correlate: produce to %s: %w", c.opts.To, err)
	}
	c.mu.Lock()
	offsets := c.committable(nil)
	c.mu.Unlock()
	c.commitOffsets(ctx, offsets)
	return nil
}

// committable returns the offsets safe to commit, of the given
// partitions (nil: all). Called with c.mu held.
func (c *Correlator) committable(only map[string][]int32) map[string]map[int32]kgo.EpochOffset {
	cut := c.stream.Horizon(c.released)
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for key, p := range c.parts {
		if only != nil && !contains(only[key.topic], key.part) {
			continue
		}
		for p.head < len(p.pend) && p.pend[p.head].t < cut {
			p.head++
		}
		if p.head > len(p.pend)/2 {
			p.pend = append(p.pend[:0], p.pend[p.head:]...)
			p.head = 0
		}
		off := p.next
		if p.head < len(p.pend) {
			off = p.pend[p.head].off
		}
		if offsets[key.topic] == nil {
			offsets[key.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[key.topic][key.part] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	return offsets
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Correlator) commitOffsets(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) {
	if len(offsets) == 0 {
		return
	}
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			c.commitsFailed.Add(1)
			c.log.Warn("commit", "err", err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					c.commitsFailed.Add(1)
					c.log.Warn("commit", "topic", t.Topic, "partition", p.Partition, "err", err)
					continue
				}
				c.commitsOK.Add(1)
			}
		}
	})
}

// onRevoked commits what is safe and forgets the window (every partition
// goes: the balancer is eager).
func (c *Correlator) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := cl.Flush(fctx)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.perr.Load() == nil {
		c.commitOffsets(ctx, c.committable(revoked))
	}
	c.resets.Add(1)
	c.reset()
}

// onLost forgets the window without committing: another member may own
// the partitions already.
func (c *Correlator) onLost(context.Context, *kgo.Client, map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets.Add(1)
	c.reset()
}

// CorrelatorStats are a correlator's counters.
type CorrelatorStats struct {
	// Records read; Alerts taken into the window; Duplicates (an id seen
	// before with the same content) and Conflicts (with another) dropped;
	// Bad records that are not alerts; Skipped incidents in the alerts
	// topic; Late alerts that arrived after their time was released;
	// Forced releases by the cap.
	Records, Alerts, Duplicates, Conflicts, Bad, Skipped, Late, Forced int64
	// Incidents made; Produced acknowledged; ProduceErrors failed.
	Incidents, Produced, ProduceErrors int64
	// Held alerts waiting for order; Window alerts that may still join;
	// WindowDropped alerts pushed out of the window by its cap.
	Held, Window  int
	WindowDropped int64
	// Resets of the window by rebalances.
	Resets int64
}

// Stats returns the correlator's counters.
func (c *Correlator) Stats() CorrelatorStats {
	c.mu.Lock()
	held, win, dropped := len(c.held), c.stream.Len(), c.stream.Dropped()
	c.mu.Unlock()
	return CorrelatorStats{
		Records: c.records.Load(), Alerts: c.alerts.Load(), Duplicates: c.dup.Load(), Conflicts: c.conflict.Load(),
		Bad: c.bad.Load(), Skipped: c.skipped.Load(), Late: c.late.Load(), Forced: c.forced.Load(),
		Incidents: c.incidents.Load(), Produced: c.produced.Load(), ProduceErrors: c.produceErrs.Load(),
		Held: held, Window: win, WindowDropped: dropped, Resets: c.resets.Load(),
	}
}

var (
	dCorrRecords = prometheus.NewDesc("knockwatch_correlate_records_total", "Records of the alerts topic, by result: alert (taken into the window), duplicate, conflict (an id seen with other content), bad (not an alert), incident (skipped).", []string{"result"}, nil)
	dCorrLate    = prometheus.NewDesc("knockwatch_correlate_late_alerts_total", "Alerts that arrived after their time was released (later than the lateness) or were released early by the cap.", []string{"cause"}, nil)
	dCorrInc     = prometheus.NewDesc("knockwatch_correlate_incidents_total", "Incidents made, by result: made, produced (acknowledged), failed.", []string{"result"}, nil)
	dCorrHeld    = prometheus.NewDesc("knockwatch_correlate_alerts_held", "Alerts held, by stage: ordering (waiting for the lateness) or window (may still join an incident).", []string{"stage"}, nil)
	dCorrDrop    = prometheus.NewDesc("knockwatch_correlate_window_dropped_total", "Alerts pushed out of the window by its cap before their time.", nil, nil)
	dCorrReset   = prometheus.NewDesc("knockwatch_correlate_resets_total", "Windows forgotten on a rebalance (rebuilt from the committed offsets).", nil, nil)
	dCorrLag     = prometheus.NewDesc("knockwatch_correlate_lag_records", "Records of the alerts topic not yet read, by partition.", []string{"topic", "partition"}, nil)
)

// Collector returns the correlator's Prometheus collector.
func (c *Correlator) Collector() prometheus.Collector { return (*corrCollector)(c) }

type corrCollector Correlator

func (*corrCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dCorrRecords, dCorrLate, dCorrInc, dCorrHeld, dCorrDrop, dCorrReset, dCorrLag} {
		ch <- d
	}
}

func (x *corrCollector) Collect(ch chan<- prometheus.Metric) {
	c := (*Correlator)(x)
	s := c.Stats()
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v int, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
	}
	counter(dCorrRecords, s.Alerts, "alert")
	counter(dCorrRecords, s.Duplicates, "duplicate")
	counter(dCorrRecords, s.Conflicts, "conflict")
	counter(dCorrRecords, s.Bad, "bad")
	counter(dCorrRecords, s.Skipped, "incident")
	counter(dCorrLate, s.Late, "late")
	counter(dCorrLate, s.Forced, "cap")
	counter(dCorrInc, s.Incidents, "made")
	counter(dCorrInc, s.Produced, "produced")
	counter(dCorrInc, s.ProduceErrors, "failed")
	gauge(dCorrHeld, s.Held, "ordering")
	gauge(dCorrHeld, s.Window, "window")
	counter(dCorrDrop, s.WindowDropped)
	counter(dCorrReset, s.Resets)
	c.lagMu.Lock()
	defer c.lagMu.Unlock()
	for k, v := range c.lag {
		ch <- prometheus.MustNewConstMetric(dCorrLag, prometheus.GaugeValue, float64(v), k.topic, strconv.Itoa(int(k.part)))
	}
}
