package metrics

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/sink"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

func TestSensorMetrics(t *testing.T) {
	st := stats.New()
	st.Records.Add(10)
	st.DecodeError(&decode.Error{Reason: decode.ReasonTooLong})
	var ls source.ListenerStats
	ls.Rejected.Add(2)
	var ds sink.DeliveryStats
	ds.Delivered.Add(3)
	var live engine.LiveStats
	live.Late.Add(4)
	var ready atomic.Bool
	ready.Store(true)
	m := New()
	sm := m.RegisterSensor(Sensor{
		Inputs: []Input{{Name: "edge", Stats: st, Listener: &ls, Capture: func() (uint64, uint64, bool) { return 100, 7, true }}},
		Sinks:  []Sink{{Name: "siem", Stats: &ds}},
		Live:   &live,
		Detectors: func() []detect.Stats {
			return []detect.Stats{{Name: "sequence", Sources: 5, Capacity: 9, Evictions: 1}}
		},
		Ready: &ready,
	})
	sm.Alert(&alert.Alert{Detector: "sequence", Severity: alert.SeverityHigh})
	sm.Alert(&alert.Alert{Detector: "made-up", Severity: alert.SeverityLow})
	sm.Reload(false)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`knockwatch_input_records_total{input="edge"} 10`,
		`knockwatch_decode_errors_total{input="edge",reason="too_long"} 1`,
		`knockwatch_decode_errors_total{input="edge",reason="binary"} 0`,
		`knockwatch_listener_connections_total{input="edge",result="rejected"} 2`,
		`knockwatch_capture_drops_total{input="edge"} 7`,
		`knockwatch_sink_deliveries_total{sink="siem"} 3`,
		`knockwatch_engine_late_events_total 4`,
		`knockwatch_state_sources{detector="sequence"} 5`,
		`knockwatch_state_evictions_total{detector="sequence"} 1`,
		`knockwatch_alerts_total{detector="sequence",severity="high"} 1`,
		`knockwatch_alerts_total{detector="other",severity="low"} 1`,
		`knockwatch_config_reloads_total{result="error"} 1`,
		`knockwatch_ready 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "made-up") {
		t.Error("a detector name from data became a label value")
	}
}
