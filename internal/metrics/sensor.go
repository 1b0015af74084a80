package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/sink"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Input is what the sensor knows about one configured input. Only the
// fields that apply to its type are set.
type Input struct {
	// Name is the configured name: the value of the "input" label.
	Name     string
	Stats    *stats.Run
	Replayed *atomic.Int64
	Follow   *source.FollowStats
	Listener *source.ListenerStats
	// UDPDrops reads the kernel's drop count of a listener's UDP socket.
	UDPDrops func() (uint64, bool)
	// Capture reads a live capture's kernel counters.
	Capture func() (packets, drops uint64, ok bool)
	// Restarts reads how often journalctl was started again.
	Restarts func() int64
}

// Sink is one configured sink.
type Sink struct {
	Name     string
	Stats    *sink.DeliveryStats
	Spool    *sink.Spool
	MaxSpool int64
}

// Sensor lists where the sensor's numbers live.
type Sensor struct {
	Inputs    []Input
	Sinks     []Sink
	Live      *engine.LiveStats
	Detectors func() []detect.Stats
	// LateAlerts, Deduplicated and Pending are the post-detection stage's
	// counters; Journal the number of delivered ids remembered.
	LateAlerts, Deduplicated, Pending *atomic.Int64
	Journal                           func() int
	Ready                             *atomic.Bool
}

// SensorMetrics are the metrics the sensor updates itself (the rest are
// read at scrape time).
type SensorMetrics struct {
	alerts  *prometheus.CounterVec
	reloads *prometheus.CounterVec
}

// detectorLabels are the detector names an alert may carry; anything else
// is counted as "other", so a label value never comes from data.
var detectorLabels = map[string]bool{"sequence": true, "scan": true, "spa": true, "magic": true, "daemon": true, "process": true, "correlate": true}

// Alert counts one alert sent, by detector and severity.
func (m *SensorMetrics) Alert(a *alert.Alert) {
	det := a.Detector
	if !detectorLabels[det] {
		det = "other"
	}
	m.alerts.WithLabelValues(det, a.Severity.String()).Inc()
}

// Reload counts a configuration reload.
func (m *SensorMetrics) Reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("error").Inc()
	}
}

// RegisterSensor registers the sensor's metrics.
func (m *Metrics) RegisterSensor(s Sensor) *SensorMetrics {
	sm := &SensorMetrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "knockwatch_alerts_total", Help: "Alerts sent to the sinks, by detector and severity.",
		}, []string{"detector", "severity"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "knockwatch_config_reloads_total", Help: "Configuration reloads (SIGHUP), by result.",
		}, []string{"result"}),
	}
	for det := range detectorLabels {
		for sev := alert.SeverityInfo; sev <= alert.SeverityCritical; sev++ {
			sm.alerts.WithLabelValues(det, sev.String())
		}
	}
	sm.reloads.WithLabelValues("ok")
	sm.reloads.WithLabelValues("error")
	m.Registry.MustRegister(sm.alerts, sm.reloads, &sensorCollector{s: s})
	return sm
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dRecords      = desc("knockwatch_input_records_total", "Records (lines, messages, entries) read, by input; replayed records are not counted here.", "input")
	dReplayed     = desc("knockwatch_input_replayed_records_total", "Records read again after a restart to rebuild detector state.", "input")
	dInBytes      = desc("knockwatch_input_bytes_total", "Bytes read from followed files.", "input")
	dEvents       = desc("knockwatch_events_total", "Events decoded, by input.", "input")
	dDecodeErrors = desc("knockwatch_decode_errors_total", "Records that could not be decoded, by input and reason.", "input", "reason")
	dRotations    = desc("knockwatch_file_rotations_total", "Rotations of followed files (the path named a new file).", "input")
	dTruncations  = desc("knockwatch_file_truncations_total", "Truncations of followed files (copytruncate).", "input")
	dLost         = desc("knockwatch_file_rotations_lost_total", "Rotations during a stop whose rotated file was not found again.", "input")
	dConns        = desc("knockwatch_listener_connections_total", "TCP connections to a syslog listener, by result.", "input", "result")
	dActive       = desc("knockwatch_listener_connections_active", "Open TCP connections to a syslog listener.", "input")
	dTimeouts     = desc("knockwatch_listener_timeouts_total", "TCP connections closed for a timeout: idle between messages or a message not finished in time.", "input", "kind")
	dFatal        = desc("knockwatch_listener_bad_framing_total", "TCP connections closed for an octet count that is not a number.", "input")
	dInvalidUTF8  = desc("knockwatch_listener_invalid_utf8_total", "Syslog messages that are not valid UTF-8 (still decoded).", "input")
	dNoPRI        = desc("knockwatch_listener_no_pri_total", "Syslog messages without a <PRI> (still decoded).", "input")
	dDatagrams    = desc("knockwatch_listener_datagrams_total", "UDP datagrams received.", "input")
	dUDPDrops     = desc("knockwatch_listener_udp_drops_total", "Datagrams the kernel dropped because the socket's buffer was full.", "input")
	dCapPackets   = desc("knockwatch_capture_packets_total", "Packets the capture socket received (kernel count).", "input")
	dCapDrops     = desc("knockwatch_capture_drops_total", "Packets the kernel dropped because the capture ring was full.", "input")
	dRestarts     = desc("knockwatch_journal_restarts_total", "Times journalctl ended and was started again.", "input")
	dStateSources = desc("knockwatch_state_sources", "Sources tracked by a detector.", "detector")
	dStateCap     = desc("knockwatch_state_capacity", "Sources a detector can track before evicting.", "detector")
	dEvictions    = desc("knockwatch_state_evictions_total", "Sources evicted from a full state table.", "detector")
	dWatermark    = desc("knockwatch_engine_watermark_seconds", "Event time the detectors have reached (Unix seconds).")
	dLate         = desc("knockwatch_engine_late_events_total", "Events that arrived after the watermark passed them (still used).")
	dClamped      = desc("knockwatch_engine_clamped_events_total", "Events dated further ahead of the clock than max_clock_skew.")
	dForced       = desc("knockwatch_engine_forced_releases_total", "Times events were released out of order because too many were held.")
	dQueued       = desc("knockwatch_engine_queued_events", "Events held to be put in time order.")
	dLateAlerts   = desc("knockwatch_alerts_late_total", "Alerts that arrived after later ones had been released (sent out of order).")
	dDeduped      = desc("knockwatch_alerts_deduplicated_total", "Alerts rebuilt by a replay after a restart and not sent again.")
	dPending      = desc("knockwatch_alerts_pending", "Alerts handed to the sinks and not yet taken by all of them.")
	dJournal      = desc("knockwatch_delivered_ids", "Alert ids remembered to de-duplicate replays.")
	dDelivered    = desc("knockwatch_sink_deliveries_total", "Alerts a sink took.", "sink")
	dFailures     = desc("knockwatch_sink_failures_total", "Failed delivery attempts (each retry counts).", "sink")
	dRejected     = desc("knockwatch_sink_rejected_total", "Alerts a sink refused for good (not retried).", "sink")
	dSpooled      = desc("knockwatch_sink_spooled_total", "Alerts put in a sink's spool.", "sink")
	dDropped      = desc("knockwatch_sink_dropped_total", "Alerts lost because a sink's spool was full.", "sink")
	dFiltered     = desc("knockwatch_sink_filtered_total", "Alerts below a sink's min_severity.", "sink")
	dSpoolDepth   = desc("knockwatch_sink_spool_depth", "Alerts waiting in a sink's spool.", "sink")
	dSpoolBytes   = desc("knockwatch_sink_spool_bytes", "Bytes used by a sink's spool.", "sink")
	dSpoolMax     = desc("knockwatch_sink_spool_max_bytes", "The cap on a sink's spool.", "sink")
	dReady        = desc("knockwatch_ready", "1 when the sensor is reading its inputs.")
)

type sensorCollector struct{ s Sensor }

func (c *sensorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRecords, dReplayed, dInBytes, dEvents, dDecodeErrors, dRotations, dTruncations, dLost,
		dConns, dActive, dTimeouts, dFatal, dInvalidUTF8, dNoPRI, dDatagrams, dUDPDrops, dCapPackets, dCapDrops, dRestarts,
		dStateSources, dStateCap, dEvictions, dWatermark, dLate, dClamped, dForced, dQueued, dLateAlerts, dDeduped, dPending, dJournal,
		dDelivered, dFailures, dRejected, dSpooled, dDropped, dFiltered, dSpoolDepth, dSpoolBytes, dSpoolMax, dReady} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *sensorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	for _, in := range s.Inputs {
		n := in.Name
		if in.Stats != nil {
			counter(ch, dRecords, float64(in.Stats.Records.Load()), n)
			counter(ch, dEvents, float64(in.Stats.Events.Load()), n)
			for _, r := range decode.Reasons() {
				counter(ch, dDecodeErrors, float64(in.Stats.ErrorCount(r)), n, r.String())
			}
		}
		if in.Replayed != nil {
			counter(ch, dReplayed, float64(in.Replayed.Load()), n)
		}
		if f := in.Follow; f != nil {
			counter(ch, dInBytes, float64(f.Bytes.Load()), n)
			counter(ch, dRotations, float64(f.Rotations.Load()), n)
			counter(ch, dTruncations, float64(f.Truncations.Load()), n)
			counter(ch, dLost, float64(f.Lost.Load()), n)
		}
		if l := in.Listener; l != nil {
			counter(ch, dConns, float64(l.Accepted.Load()), n, "accepted")
			counter(ch, dConns, float64(l.Rejected.Load()), n, "rejected")
			gauge(ch, dActive, float64(l.Active.Load()), n)
			counter(ch, dTimeouts, float64(l.IdleTimeouts.Load()), n, "idle")
			counter(ch, dTimeouts, float64(l.FrameTimeouts.Load()), n, "frame")
			counter(ch, dFatal, float64(l.FatalFrames.Load()), n)
			counter(ch, dInvalidUTF8, float64(l.InvalidUTF8.Load()), n)
			counter(ch, dNoPRI, float64(l.NoPRI.Load()), n)
			counter(ch, dDatagrams, float64(l.Datagrams.Load()), n)
		}
		if in.UDPDrops != nil {
			if v, ok := in.UDPDrops(); ok {
				counter(ch, dUDPDrops, float64(v), n)
			}
		}
		if in.Capture != nil {
			if p, d, ok := in.Capture(); ok {
				counter(ch, dCapPackets, float64(p), n)
				counter(ch, dCapDrops, float64(d), n)
			}
		}
		if in.Restarts != nil {
			counter(ch, dRestarts, float64(in.Restarts()), n)
		}
	}
	if s.Detectors != nil {
		for _, d := range s.Detectors() {
			gauge(ch, dStateSources, float64(d.Sources), d.Name)
			gauge(ch, dStateCap, float64(d.Capacity), d.Name)
			counter(ch, dEvictions, float64(d.Evictions), d.Name)
		}
	}
	if l := s.Live; l != nil {
		gauge(ch, dWatermark, float64(l.Watermark.Load())/1e9)
		counter(ch, dLate, float64(l.Late.Load()))
		counter(ch, dClamped, float64(l.Clamped.Load()))
		counter(ch, dForced, float64(l.Forced.Load()))
		gauge(ch, dQueued, float64(l.Queued.Load()))
	}
	if s.LateAlerts != nil {
		counter(ch, dLateAlerts, float64(s.LateAlerts.Load()))
	}
	if s.Deduplicated != nil {
		counter(ch, dDeduped, float64(s.Deduplicated.Load()))
	}
	if s.Pending != nil {
		gauge(ch, dPending, float64(s.Pending.Load()))
	}
	if s.Journal != nil {
		gauge(ch, dJournal, float64(s.Journal()))
	}
	for _, k := range s.Sinks {
		n := k.Name
		counter(ch, dDelivered, float64(k.Stats.Delivered.Load()), n)
		counter(ch, dFailures, float64(k.Stats.Failures.Load()), n)
		counter(ch, dRejected, float64(k.Stats.Rejected.Load()), n)
		counter(ch, dSpooled, float64(k.Stats.Spooled.Load()), n)
		counter(ch, dDropped, float64(k.Stats.Dropped.Load()), n)
		counter(ch, dFiltered, float64(k.Stats.Filtered.Load()), n)
		if k.Spool != nil {
			gauge(ch, dSpoolDepth, float64(k.Spool.Len()), n)
			gauge(ch, dSpoolBytes, float64(k.Spool.Bytes()), n)
			gauge(ch, dSpoolMax, float64(k.MaxSpool), n)
		}
	}
	if s.Ready != nil {
		v := 0.0
		if s.Ready.Load() {
			v = 1
		}
		gauge(ch, dReady, v)
	}
}
