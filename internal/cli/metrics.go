package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves Prometheus /metrics with the Go and process
// collectors and cs on listen ("off": nowhere) until the returned
// function is called.
func serveMetrics(listen string, log *slog.Logger, cs ...prometheus.Collector) (func(), error) {
	if listen == "off" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(cs...)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}

// runService runs the Kafka stage name (route, correlate) with its
// metrics served on listen, until ctx ends or SIGINT or SIGTERM arrives.
func runService(ctx context.Context, name, listen string, log *slog.Logger, c prometheus.Collector, run func(context.Context) error) error {
	closeMetrics, err := serveMetrics(listen, log, c)
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("%s: --metrics-listen: %w", name, err)}
	}
	defer closeMetrics()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	return nil
}
