package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// RouterOptions configure a Router.
type RouterOptions struct {
	Conn config.KafkaConn
	// From is the unkeyed topic (raw lines from a collector); To the
	// keyed topic the consumers read.
	From, To string
	// Group is the router's consumer group (its instances share From's
	// partitions).
	Group string
	// StartAt is where a partition of From without a committed offset
	// starts: "end" or "beginning".
	StartAt string
	// Format decodes From's records, to find their source.
	Format   decode.Format
	Location *time.Location
	// NoSourceKey is the key of records whose events name no address
	// (process events without one): they all go to one partition, as the
	// engine puts them all on one shard.
	NoSourceKey string
	// NoSourcePartition, when 0 or more, sends those records to that
	// partition instead of hashing NoSourceKey.
	NoSourcePartition int32
	// DropUnmatched drops records that decode to no event (noise, decode
	// errors); otherwise they are forwarded without a key, spread over
	// the partitions, so the consumers still count them.
	DropUnmatched bool
	Logger        *slog.Logger
	// Stats counts records and decode errors.
	Stats      *stats.Run
	ClientOpts []kgo.Opt
}

// Router re-keys an unkeyed topic by source address: each record is decoded
// with its format's decoder only to find the key of its first event
// (AppendKey), then produced unchanged (value, headers, timestamp) to the
// keyed topic with Kafka's murmur2 partitioner, the one every Kafka client
// can be told to use. Input offsets are committed only after the records
// produced from them are acknowledged (at least once: after a crash a few
// records may be produced twice; the consumers see the duplicates as a
// repeated log line).
type Router struct {
	opts RouterOptions
	log  *slog.Logger
	cl   *kgo.Client
	decs map[tp]*routeDecoder

	evs   []event.Event
	keys  []byte
	out   []kgo.Record
	times []int64
	order []int
	tmp   []kgo.Record

	keyed, noSource, unmatched, dropped, produced, produceErrs atomic.Int64

	lagMu sync.Mutex
	lag   map[tp]int64
}

type routeDecoder struct {
	dec decode.Decoder
	day int
}

// fixedPartition marks records bound for NoSourcePartition.
var fixedPartition = context.WithValue(context.Background(), fixedKey{}, true)

type fixedKey struct{}

// NewRouter makes a router; nothing is contacted before Run.
func NewRouter(opts RouterOptions) (*Router, error) {
	if opts.From == "" || opts.To == "" || opts.From == opts.To {
		return nil, errors.New("route: need two different topics, from and to")
	}
	if opts.Group == "" {
		opts.Group = "knockwatch-route"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Stats == nil {
		opts.Stats = stats.New()
	}
	if opts.NoSourceKey == "" {
		opts.NoSourceKey = "unkeyed"
	}
	kopts, err := ClientOpts(opts.Conn)
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	start := kgo.NewOffset().AtEnd()
	if opts.StartAt == "beginning" {
		start = kgo.NewOffset().AtStart()
	}
	r := &Router{opts: opts, log: opts.Logger, decs: map[tp]*routeDecoder{}, lag: map[tp]int64{}}
	kopts = append(kopts,
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.From),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		// Marked offsets (records whose copies were acknowledged) are
		// committed every second and, by the default revoke callback,
		// before a partition moves.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.ConsumeResetOffset(start),
		kgo.DefaultProduceTopic(opts.To),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(routePartitioner{fixed: opts.NoSourcePartition}),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.WithLogger(kgoLogger{r.log}),
	)
	kopts = append(kopts, opts.ClientOpts...)
	if r.cl, err = kgo.NewClient(kopts...); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	return r, nil
}

// Run routes until ctx is done, then commits what was routed and leaves
// the group. It returns an error when records could not be produced (the
// client retries transient failures itself first); a restart resumes from
// the last committed offsets.
func (r *Router) Run(ctx context.Context) error {
	defer r.cl.CloseAllowingRebalance()
	var perr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			r.produceErrs.Add(1)
			perr.CompareAndSwap(nil, &err)
		}
	}
	for ctx.Err() == nil {
		fs := r.cl.PollRecords(ctx, 16384)
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch", "topic", topic, "partition", part, "err", err)
			}
		})
		r.keys = r.keys[:0]
		r.out = r.out[:0]
		r.times = r.times[:0]
		var last []*kgo.Record
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			d := r.decoder(ftp.Topic, ftp.Partition)
			prev := int64(minTime)
			for _, rec := range ftp.Records {
				prev = r.route(d, rec, prev)
			}
			lastRec := ftp.Records[len(ftp.Records)-1]
			last = append(last, lastRec)
			r.lagMu.Lock()
			r.lag[tp{ftp.Topic, ftp.Partition}] = max(0, ftp.HighWatermark-lastRec.Offset-1)
			r.lagMu.Unlock()
		})
		r.sortByTime()
		for i := range r.out {
			r.cl.Produce(context.Background(), &r.out[i], promise)
		}
		fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := r.cl.Flush(fctx)
		cancel()
		if p := perr.Load(); p != nil {
			err = *p
		}
		if err != nil {
			r.cl.AllowRebalance()
			return fmt.Errorf("route: produce to %s: %w", r.opts.To, err)
		}
		r.produced.Add(int64(len(r.out)))
		r.cl.MarkCommitRecords(last...)
		r.cl.AllowRebalance()
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.cl.CommitMarkedOffsets(cctx); err != nil {
		return fmt.Errorf("route: final commit: %w", err)
	}
	return nil
}

func (r *Router) decoder(topic string, part int32) *routeDecoder {
	key := tp{topic, part}
	now := time.Now()
	day := dayOf(now, r.opts.Location)
	d := r.decs[key]
	if d == nil || d.day != day {
		// Year-less stamps are dated against the current date.
		d = &routeDecoder{dec: r.opts.Format.New(decode.Options{Location: r.opts.Location, Reference: now}), day: day}
		r.decs[key] = d
	}
	return d
}

// sortByTime puts the records of one poll in event time order (stable;
// a record without events keeps the time of the one before it in its
// partition). A poll holds runs of records from several partitions of the
// unkeyed topic; without this, each keyed partition would get them run by
// run, out of time order by as much as a run spans.
func (r *Router) sortByTime() {
	if len(r.out) < 2 {
		return
	}
	r.order = r.order[:0]
	for i := range r.out {
		r.order = append(r.order, i)
	}
	slices.SortStableFunc(r.order, func(a, b int) int { return cmp.Compare(r.times[a], r.times[b]) })
	r.tmp = append(r.tmp[:0], r.out...)
	for i, j := range r.order {
		r.out[i] = r.tmp[j]
	}
	clear(r.tmp)
}

// route decodes one record and appends its copy, keyed, to r.out, with
// the time of its first event (prev if it has none), which it returns.
func (r *Router) route(d *routeDecoder, rec *kgo.Record, prev int64) int64 {
	key, ok := r.keyOf(d, rec)
	if ok && len(r.evs) > 0 {
		prev = r.evs[0].Time
	}
	r.opts.Stats.Records.Add(1)
	out := kgo.Record{Value: rec.Value, Headers: rec.Headers, Timestamp: rec.Timestamp}
	switch {
	case ok && key != nil:
		r.keyed.Add(1)
		out.Key = key
	case ok:
		r.noSource.Add(1)
		if r.opts.NoSourcePartition >= 0 {
			out.Context = fixedPartition
		} else {
			out.Key = []byte(r.opts.NoSourceKey)
		}
	case r.opts.DropUnmatched:
		r.dropped.Add(1)
		return prev
	default:
		r.unmatched.Add(1)
	}
	r.out = append(r.out, out)
	r.times = append(r.times, prev)
	return prev
}

// keyOf decodes a record's lines and returns the key of the first event
// that has one; ok says whether the record yielded any event.
func (r *Router) keyOf(d *routeDecoder, rec *kgo.Record) (key []byte, ok bool) {
	r.evs = decodeRecordLines(d.dec, rec.Value, event.Origin{Index: uint64(rec.Offset)}, r.evs[:0], func(err error) {
		r.opts.Stats.DecodeError(locateError(err, rec.Topic+"/"+strconv.Itoa(int(rec.Partition)), rec.Offset, r.opts.Format.Name))
	})
	for i := range r.evs {
		n := len(r.keys)
		var has bool
		if r.keys, has = AppendKey(r.keys, &r.evs[i]); has {
			return r.keys[n:len(r.keys):len(r.keys)], true
		}
	}
	return nil, len(r.evs) > 0
}

// RouterStats are a router's counters.
type RouterStats struct {
	// Keyed records had a source; NoSource ones had events without an
	// address; Unmatched ones had no event (forwarded unkeyed); Dropped
	// ones had no event and were dropped.
	Keyed, NoSource, Unmatched, Dropped int64
	// Produced counts copies acknowledged; ProduceErrors failed ones.
	Produced, ProduceErrors int64
}

// Stats returns the router's counters.
func (r *Router) Stats() RouterStats {
	return RouterStats{
		Keyed: r.keyed.Load(), NoSource: r.noSource.Load(), Unmatched: r.unmatched.Load(), Dropped: r.dropped.Load(),
		Produced: r.produced.Load(), ProduceErrors: r.produceErrs.Load(),
	}
}

var (
	dRouted     = prometheus.NewDesc("knockwatch_route_records_total", "Records routed, by result: keyed by source, no_source (events without an address), unmatched (no event; forwarded unkeyed) or dropped.", []string{"result"}, nil)
	dRouteProd  = prometheus.NewDesc("knockwatch_route_produced_total", "Records produced to the keyed topic and acknowledged.", nil, nil)
	dRouteErr   = prometheus.NewDesc("knockwatch_route_produce_errors_total", "Records the keyed topic did not take.", nil, nil)
	dRouteLag   = prometheus.NewDesc("knockwatch_route_lag_records", "Records of the unkeyed topic not yet routed, by partition.", []string{"topic", "partition"}, nil)
	dRouteDecod = prometheus.NewDesc("knockwatch_route_decode_errors_total", "Records (lines) that could not be decoded, by reason.", []string{"reason"}, nil)
)

// Collector returns the router's Prometheus collector.
func (r *Router) Collector() prometheus.Collector { return (*routeCollector)(r) }

type routeCollector Router

func (*routeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRouted, dRouteProd, dRouteErr, dRouteLag, dRouteDecod} {
		ch <- d
	}
}

func (x *routeCollector) Collect(ch chan<- prometheus.Metric) {
	r := (*Router)(x)
	s := r.Stats()
	c := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	c(dRouted, s.Keyed, "keyed")
	c(dRouted, s.NoSource, "no_source")
	c(dRouted, s.Unmatched, "unmatched")
	c(dRouted, s.Dropped, "dropped")
	c(dRouteProd, s.Produced)
	c(dRouteErr, s.ProduceErrors)
	for _, reason := range decode.Reasons() {
		c(dRouteDecod, r.opts.Stats.ErrorCount(reason), reason.String())
	}
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	for k, v := range r.lag {
		ch <- prometheus.MustNewConstMetric(dRouteLag, prometheus.GaugeValue, float64(v), k.topic, strconv.Itoa(int(k.part)))
	}
}

// routePartitioner is Kafka's: murmur2 of the key for keyed records (what
// librdkafka calls murmur2_random and Kafka's Java client does by
// default), sticky batches for unkeyed ones, and a fixed partition for
// records marked with fixedPartition.
type routePartitioner struct{ fixed int32 }

func (p routePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return routeTopicPartitioner{inner: kgo.StickyKeyPartitioner(nil).ForTopic(t), fixed: p.fixed}
}

type routeTopicPartitioner struct {
	inner kgo.TopicPartitioner
	fixed int32
}

func (p routeTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Context == fixedPartition || p.inner.RequiresConsistency(r)
}

func (p routeTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context == fixedPartition {
		return int(p.fixed) % n
	}
	return p.inner.Partition(r, n)
}

func (p routeTopicPartitioner) OnNewBatch() {
	if nb, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
