// Package metrics serves the sensor's Prometheus metrics, health and
// readiness. Each sensor has its own registry (no global state, so tests
// can read counters); values live where the work is done (atomic counters
// in stats, source, engine and sink) and are read at scrape time, so the
// hot paths pay nothing for metrics. Label values come from fixed sets:
// configured input and sink names, decode reasons, detector names and
// severities; never an address or a port.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one sensor's registry.
type Metrics struct {
	Registry *prometheus.Registry
}

// New makes a registry with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Metrics{Registry: reg}
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
