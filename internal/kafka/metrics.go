package kafka

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of a kafka input. Label values are the input's name, topic
// names from its configuration and partition numbers: none comes from a
// record.
var (
	dOwned      = prometheus.NewDesc("knockwatch_kafka_partitions_owned", "Partitions the group assigned to this instance.", []string{"input"}, nil)
	dLag        = prometheus.NewDesc("knockwatch_kafka_lag_records", "Records in a partition not yet read: high watermark less the next offset to read.", []string{"input", "topic", "partition"}, nil)
	dHWM        = prometheus.NewDesc("knockwatch_kafka_high_watermark", "A partition's high watermark (the offset after its last record) at the last fetch.", []string{"input", "topic", "partition"}, nil)
	dCommitted  = prometheus.NewDesc("knockwatch_kafka_committed_offset", "The offset last committed for a partition: where a new owner would start replaying.", []string{"input", "topic", "partition"}, nil)
	dReplayDebt = prometheus.NewDesc("knockwatch_kafka_replay_records", "Records a new owner of the partition would read again to rebuild detector state: next offset less committed offset.", []string{"input", "topic", "partition"}, nil)
	dEvents     = prometheus.NewDesc("knockwatch_kafka_rebalance_partitions_total", "Partitions assigned to, revoked from (handed over cleanly) or lost by this instance.", []string{"input", "event"}, nil)
	dCommits    = prometheus.NewDesc("knockwatch_kafka_commits_total", "Partition offset commits, by result.", []string{"input", "result"}, nil)
	dFetchErr   = prometheus.NewDesc("knockwatch_kafka_fetch_errors_total", "Errors fetching records (the client retries).", []string{"input"}, nil)
	dSuppressed = prometheus.NewDesc("knockwatch_kafka_alerts_suppressed_total", "Alerts rebuilt while replaying a partition taken over from another instance, which that instance had already sent.", []string{"input"}, nil)
	dHanded     = prometheus.NewDesc("knockwatch_kafka_alerts_handed_over_total", "Alerts judged while a partition's engine stopped (handover, loss, shutdown): premature, not sent; the partition's next reader judges them with every event.", []string{"input"}, nil)
	dDeduped    = prometheus.NewDesc("knockwatch_kafka_alerts_deduplicated_total", "Alerts a detector reported a second time with the same id, sent once.", []string{"input"}, nil)
	dAlerts     = prometheus.NewDesc("knockwatch_kafka_alerts_total", "Alerts handed to the sinks.", []string{"input"}, nil)
	dReplayed   = prometheus.NewDesc("knockwatch_kafka_replayed_records_total", "Records read again after a partition changed owner (not counted as records in).", []string{"input"}, nil)
	dClamped    = prometheus.NewDesc("knockwatch_kafka_clamped_events_total", "Events dated further ahead of their record's timestamp than max_time_skew.", []string{"input"}, nil)
	dLate       = prometheus.NewDesc("knockwatch_kafka_late_events_total", "Events that came more than the lateness out of time order in their partition, or were released early because too many were held (still used, out of order).", []string{"input", "reason"}, nil)
	dSources    = prometheus.NewDesc("knockwatch_kafka_state_sources", "Sources tracked by a detector, over the partitions owned now.", []string{"input", "detector"}, nil)
	dCapacity   = prometheus.NewDesc("knockwatch_kafka_state_capacity", "Sources a detector can track before evicting, over the partitions owned now.", []string{"input", "detector"}, nil)
	dEvicted    = prometheus.NewDesc("knockwatch_kafka_state_evictions_total", "Sources evicted from a full state table.", []string{"input", "detector"}, nil)
)

// Collector returns one Prometheus collector for the kafka inputs cs (the
// metrics of several inputs share names, so they have one collector).
func Collector(cs ...*Consumer) prometheus.Collector { return collector(cs) }

type collector []*Consumer

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dOwned, dLag, dHWM, dCommitted, dReplayDebt, dEvents, dCommits, dFetchErr,
		dSuppressed, dHanded, dDeduped, dAlerts, dReplayed, dClamped, dLate, dSources, dCapacity, dEvicted} {
		ch <- d
	}
}

func (x collector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range x {
		c.collect(ch)
	}
}

func (c *Consumer) collect(ch chan<- prometheus.Metric) {
	n := c.opts.Name
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	parts := c.owned()
	gauge(dOwned, float64(c.assignment()), n)
	sources := map[string][2]float64{}
	c.evMu.Lock()
	evicted := make(map[string]uint64, len(c.evictions))
	for k, v := range c.evictions {
		evicted[k] = v
	}
	c.evMu.Unlock()
	for _, p := range parts {
		part := strconv.Itoa(int(p.part))
		next, hwm := p.sent.Load(), p.hwm.Load()
		gauge(dLag, float64(max(0, hwm-next)), n, p.topic, part)
		gauge(dHWM, float64(hwm), n, p.topic, part)
		if cm := p.committed.Load(); cm >= 0 {
			gauge(dCommitted, float64(cm), n, p.topic, part)
			gauge(dReplayDebt, float64(max(0, next-cm)), n, p.topic, part)
		}
		for _, s := range p.live.DetectorStats() {
			v := sources[s.Name]
			v[0] += float64(s.Sources)
			v[1] += float64(s.Capacity)
			sources[s.Name] = v
			evicted[s.Name] += s.Evictions
		}
	}
	counter(dEvents, float64(c.assigned.Load()), n, "assigned")
	counter(dEvents, float64(c.revoked.Load()), n, "revoked")
	counter(dEvents, float64(c.lost.Load()), n, "lost")
	counter(dCommits, float64(c.commitsOK.Load()), n, "ok")
	counter(dCommits, float64(c.commitsFailed.Load()), n, "error")
	counter(dFetchErr, float64(c.fetchErrors.Load()), n)
	counter(dSuppressed, float64(c.suppressed.Load()), n)
	counter(dDeduped, float64(c.deduped.Load()), n)
	counter(dHanded, float64(c.handedOver.Load()), n)
	counter(dAlerts, float64(c.alerts.Load()), n)
	counter(dReplayed, float64(c.replayed.Load()), n)
	counter(dClamped, float64(c.clamped.Load()), n)
	counter(dLate, float64(c.late.Load()), n, "late")
	counter(dLate, float64(c.forced.Load()), n, "forced")
	for name, v := range sources {
		gauge(dSources, v[0], n, name)
		gauge(dCapacity, v[1], n, name)
	}
	for name, v := range evicted {
		counter(dEvicted, float64(v), n, name)
	}
}
