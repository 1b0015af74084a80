package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Output is where a consumer's alerts go: the sensor's sinks.
type Output interface {
	// Submit hands an alert over; done is called once every sink has
	// taken it (delivered, spooled or refused). It must not block long.
	Submit(a *alert.Alert, done func())
	// Sync makes what the sinks took durable (their spools); it is called
	// before every commit, so a committed offset never skips an alert
	// that is only in memory.
	Sync() error
}

// Options configure a Consumer.
type Options struct {
	// Name is the input's name (logs, metric labels).
	Name string
	// Config is the whole configuration: the detectors use it as a hunt
	// does.
	Config config.Config
	// Kafka is the input's kafka block, with its defaults filled in.
	Kafka config.KafkaInput
	// Location is the time zone of timestamps that carry none.
	Location *time.Location
	// Lateness is how far out of time order a partition's events may be
	// (watch.lateness).
	Lateness time.Duration
	// ReportTick is how often each partition's engine reports progress,
	// which is how often its alerts and commit point move
	// (watch.idle_tick; default 250ms).
	ReportTick time.Duration
	Output     Output
	Logger     *slog.Logger
	// Stats counts records, events and decode errors of the input;
	// Replayed counts records read again after a partition changed owner.
	Stats    *stats.Run
	Replayed *atomic.Int64
	// Clock is the engines' clock (default the system clock).
	Clock engine.Clock
	// ClientOpts are added to the client's options (tests: a dialer).
	ClientOpts []kgo.Opt
}

// Consumer reads a kafka input's topics as a member of its consumer group
// and runs the detectors over each owned partition. See doc.go.
type Consumer struct {
	opts     Options
	k        config.KafkaInput
	log      *slog.Logger
	cl       *kgo.Client
	loc      *time.Location
	formats  map[string]decode.Format
	horizon  int64
	idleTick time.Duration
	maxSkew  time.Duration
	// maxQueued caps the events each partition's engine holds for
	// ordering.
	maxQueued int

	cfgMu sync.Mutex
	cfg   config.Config

	// mu guards parts and seeds. The poll loop and the group callbacks
	// never run at once (BlockRebalanceOnPoll), but metrics read parts.
	mu    sync.Mutex
	parts map[tp]*partition
	seeds map[tp]commitMeta
	// owns is the assignment (a partition has a pipeline once it has
	// records).
	owns map[tp]bool

	lastCommit time.Time
	crashed    atomic.Bool
	ran        atomic.Bool
	ready      atomic.Bool

	// counters (metrics.go)
	records, replayed, alerts, suppressed, deduped, clamped, handedOver atomic.Int64
	late, forced                                                        atomic.Int64
	commitsOK, commitsFailed, fetchErrors                               atomic.Int64
	assigned, revoked, lost                                             atomic.Int64
	evMu                                                                sync.Mutex
	evictions                                                           map[string]uint64
}

type tp struct {
	topic string
	part  int32
}

// NewConsumer checks the input and makes its client; nothing is
// contacted before Run.
func NewConsumer(opts Options) (*Consumer, error) {
	k := opts.Kafka
	if len(k.Topics) == 0 {
		return nil, fmt.Errorf("kafka input %s: no topics", opts.Name)
	}
	if k.MaxPartitions <= 0 || k.CommitInterval <= 0 || k.Group == "" {
		return nil, fmt.Errorf("kafka input %s: defaults not applied", opts.Name)
	}
	if opts.Output == nil {
		return nil, fmt.Errorf("kafka input %s: no output", opts.Name)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Clock == nil {
		opts.Clock = engine.SystemClock{}
	}
	if opts.ReportTick <= 0 {
		opts.ReportTick = 250 * time.Millisecond
	}
	c := &Consumer{
		opts: opts, k: k, log: opts.Logger.With("input", opts.Name), loc: opts.Location,
		formats: map[string]decode.Format{}, cfg: opts.Config,
		horizon:  int64(detect.Horizon(opts.Config) + opts.Lateness),
		idleTick: k.IdleTick, maxSkew: k.MaxTimeSkew,
		parts: map[tp]*partition{}, seeds: map[tp]commitMeta{}, owns: map[tp]bool{}, evictions: map[string]uint64{},
	}
	// Events held for ordering may take a sixteenth of a partition's
	// share of the memory cap.
	share := int64(opts.Config.State.MaxBytes) / int64(k.MaxPartitions)
	c.maxQueued = max(4096, int(share/16/int64(unsafe.Sizeof(event.Event{}))))
	var topics []string
	for _, t := range k.Topics {
		f, err := decode.Lookup(t.Format)
		if err != nil {
			return nil, fmt.Errorf("kafka input %s: topic %s: %w", opts.Name, t.Name, err)
		}
		c.formats[t.Name] = f
		topics = append(topics, t.Name)
	}
	kopts, err := ClientOpts(k.KafkaConn)
	if err != nil {
		return nil, fmt.Errorf("kafka input %s: %w", opts.Name, err)
	}
	start := kgo.NewOffset().AtEnd()
	if k.StartAt == "beginning" {
		start = kgo.NewOffset().AtStart()
	}
	kopts = append(kopts,
		kgo.ConsumerGroup(k.Group),
		kgo.ConsumeTopics(topics...),
		// The default, stated: cooperative rebalances move only the
		// partitions that change owner, so the others keep their state.
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		// Callbacks run between polls, never while a poll's records are
		// being dispatched or offsets computed for partitions that may
		// have moved.
		kgo.BlockRebalanceOnPoll(),
		// Offsets are committed here, with metadata, when the alerts of
		// what they cover are out (commit).
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.OnOffsetsFetched(c.onFetched),
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, k.SessionTimeout/3)),
		kgo.RebalanceTimeout(k.RebalanceTimeout),
		kgo.ConsumeResetOffset(start),
		kgo.WithLogger(kgoLogger{c.log}),
	)
	if k.InstanceID != "" {
		kopts = append(kopts, kgo.InstanceID(k.InstanceID))
	}
	kopts = append(kopts, opts.ClientOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka input %s: %w", opts.Name, err)
	}
	c.cl = cl
	return c, nil
}

func (c *Consumer) now() time.Time { return c.opts.Clock.Now() }

// Ready reports whether the consumer is polling.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Reconfigure gives every partition's detectors a new configuration
// without losing state; partitions assigned later start with it.
func (c *Consumer) Reconfigure(cfg config.Config) {
	c.cfgMu.Lock()
	c.cfg = cfg
	c.cfgMu.Unlock()
	share := c.partitionConfig()
	for _, p := range c.owned() {
		if _, err := p.live.Reconfigure(share); err != nil && !errors.Is(err, engine.ErrStopped) {
			c.log.Error("reconfigure", "partition", p.name, "err", err)
		}
	}
}

// assignment returns the number of partitions assigned to this member.
func (c *Consumer) assignment() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.owns)
}

func (c *Consumer) owned() []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		out = append(out, p)
	}
	return out
}

// Run consumes until ctx is done, then drains: every owned partition
// routes what it read, its alerts are handed over, its offset is
// committed, and the member leaves the group. It returns an error only if
// the client could not run at all.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("kafka: Run called twice")
	}
	c.lastCommit = time.Now()
	c.ready.Store(true)
	defer c.ready.Store(false)
	for {
		pctx, cancel := context.WithTimeout(ctx, c.k.CommitInterval)
		fs := c.cl.PollRecords(pctx, 0)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			c.fetchErrors.Add(1)
			c.log.Warn("fetch", "topic", topic, "partition", part, "err", err)
		})
		fs.EachPartition(c.dispatch)
		if ctx.Err() != nil {
			break
		}
		if time.Since(c.lastCommit) >= c.k.CommitInterval {
			c.commit(c.owned(), false)
			c.lastCommit = time.Now()
		}
		c.cl.AllowRebalance()
	}
	if c.crashed.Load() {
		c.cl.AllowRebalance()
		return nil
	}
	// Drain: stop every partition, hand its alerts over, commit, leave.
	c.mu.Lock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	clear(c.parts)
	c.mu.Unlock()
	c.stopAll(parts)
	c.commit(parts, true)
	c.mu.Lock()
	clear(c.owns)
	c.mu.Unlock()
	c.cl.AllowRebalance()
	c.cl.CloseAllowingRebalance()
	return nil
}

// dispatch hands a fetched partition's records to its pipeline, starting
// one for a partition seen for the first time.
func (c *Consumer) dispatch(ftp kgo.FetchTopicPartition) {
	if len(ftp.Records) == 0 {
		c.mu.Lock()
		if p := c.parts[tp{ftp.Topic, ftp.Partition}]; p != nil && ftp.HighWatermark > 0 {
			p.hwm.Store(ftp.HighWatermark)
		}
		c.mu.Unlock()
		return
	}
	key := tp{ftp.Topic, ftp.Partition}
	c.mu.Lock()
	p := c.parts[key]
	if p == nil {
		f, ok := c.formats[ftp.Topic]
		if !ok {
			c.mu.Unlock()
			return
		}
		seed, ok := c.seeds[key]
		if !ok {
			seed = noMeta
		}
		delete(c.seeds, key)
		p = c.newPartition(ftp.Topic, ftp.Partition, ftp.Records[0].Offset, seed, f)
		c.parts[key] = p
		c.log.Debug("partition started", "partition", p.name, "offset", ftp.Records[0].Offset, "resume", seed.Resume)
	}
	c.mu.Unlock()
	p.hwm.Store(ftp.HighWatermark)
	// Blocks while the pipeline is behind: back-pressure reaches the
	// fetches.
	p.in <- chunk{recs: ftp.Records, hwm: ftp.HighWatermark}
}

// stopAll stops partitions in parallel (a rebalance must be quick).
func (c *Consumer) stopAll(parts []*partition) {
	timeout := c.k.RebalanceTimeout / 2
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.stop(timeout) {
				c.log.Warn("sinks did not take every alert of a revoked partition in time; committing what they took", "partition", p.name)
			}
		}()
	}
	wg.Wait()
}

// commit commits the commit point of each partition whose point moved
// (all of them when sync: a final commit). The sinks' spools are synced
// first.
func (c *Consumer) commit(parts []*partition, sync bool) {
	if c.crashed.Load() || len(parts) == 0 {
		return
	}
	if err := c.opts.Output.Sync(); err != nil {
		c.log.Error("sink sync failed; offsets not committed", "err", err)
		c.commitsFailed.Add(1)
		return
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	metas := map[tp]string{}
	byKey := map[tp]*partition{}
	for _, p := range parts {
		off, m, ok := p.commitPoint()
		if !ok {
			continue
		}
		ms := m.String()
		p.mu.Lock()
		same := off == p.lastOff && ms == p.lastMeta
		p.mu.Unlock()
		if same && !sync {
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.part] = kgo.EpochOffset{Epoch: -1, Offset: off}
		key := tp{p.topic, p.part}
		metas[key] = ms
		byKey[key] = p
	}
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.k.RebalanceTimeout/2)
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				if m, ok := metas[tp{t.Topic, t.Partitions[j].Partition}]; ok {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	})
	done := func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		defer cancel()
		if err != nil {
			c.commitsFailed.Add(1)
			c.log.Warn("commit", "err", err)
			return
		}
		names := map[[16]byte]string{}
		for _, t := range req.Topics {
			names[t.TopicID] = t.Topic
		}
		for _, t := range resp.Topics {
			name := t.Topic
			if name == "" {
				name = names[t.TopicID]
			}
			for _, rp := range t.Partitions {
				key := tp{name, rp.Partition}
				p := byKey[key]
				if p == nil {
					continue
				}
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					c.commitsFailed.Add(1)
					c.log.Warn("commit", "partition", p.name, "err", err)
					continue
				}
				c.commitsOK.Add(1)
				off := offsets[p.topic][p.part].Offset
				p.committed.Store(off)
				p.mu.Lock()
				p.lastOff, p.lastMeta = off, metas[key]
				p.mu.Unlock()
			}
		}
	}
	if sync {
		c.cl.CommitOffsetsSync(ctx, offsets, done)
	} else {
		c.cl.CommitOffsets(ctx, offsets, done)
	}
}

// onFetched reads the metadata committed with each assigned partition's
// offset: the previous owner's suppression time and resume position.
func (c *Consumer) onFetched(_ context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	if c.crashed.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seed := func(topic string, part int32, md *string) {
		if md != nil {
			c.log.Debug("committed metadata", "topic", topic, "partition", part, "metadata", *md)
		}
		if topic == "" || md == nil {
			return
		}
		if m, ok := parseMeta(*md); ok {
			c.seeds[tp{topic, part}] = m
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				seed(t.Topic, p.Partition, p.Metadata)
			}
		}
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			seed(t.Topic, p.Partition, p.Metadata)
		}
	}
	return nil
}

func (c *Consumer) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	n := 0
	c.mu.Lock()
	for topic, ps := range m {
		n += len(ps)
		for _, p := range ps {
			c.owns[tp{topic, p}] = true
		}
	}
	c.mu.Unlock()
	if n > 0 {
		c.assigned.Add(int64(n))
		c.log.Info("partitions assigned", "partitions", m)
	}
}

// onRevoked hands over revoked partitions: each routes what it read, its
// alerts go out, and its offset and metadata are committed before the
// rebalance goes on, so the next owner starts exactly where this one's
// delivered work ends.
func (c *Consumer) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	if c.crashed.Load() {
		return
	}
	parts := c.take(m)
	if len(parts) == 0 {
		return
	}
	c.revoked.Add(int64(len(parts)))
	c.stopAll(parts)
	c.commit(parts, true)
	c.log.Info("partitions revoked and handed over", "partitions", m)
}

// onLost drops partitions the group took away (this member was kicked
// out): the new owners may already read them, so nothing is committed.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	if c.crashed.Load() {
		return
	}
	parts := c.take(m)
	c.lost.Add(int64(len(parts)))
	for _, p := range parts {
		p.halt()
	}
	if len(parts) > 0 {
		c.log.Warn("partitions lost; their state is dropped", "partitions", m)
	}
}

// take removes the partitions of m from the owned set.
func (c *Consumer) take(m map[string][]int32) []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*partition
	for topic, ps := range m {
		for _, part := range ps {
			key := tp{topic, part}
			delete(c.seeds, key)
			delete(c.owns, key)
			if p := c.parts[key]; p != nil {
				out = append(out, p)
				delete(c.parts, key)
			}
		}
	}
	return out
}

func (c *Consumer) addEvictions(st []detect.Stats) {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	for _, s := range st {
		c.evictions[s.Name] += s.Evictions
	}
}

// kgoLogger passes franz-go's messages to slog.
type kgoLogger struct{ l *slog.Logger }

// Level is one step quieter than the logger's: franz-go's debug messages
// (every request) would drown the sensor's own.
func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	default:
		l = slog.LevelDebug
	}
	k.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}
