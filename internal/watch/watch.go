// Package watch is the sensor (knockwatch watch): it follows files across
// rotation, listens for syslog, reads the journal and captures packets, runs
// the same detectors as a hunt on a live engine (package engine, live.go),
// puts the alerts in time order, enriches and correlates them as a hunt does,
// and delivers them to its sinks with retries and a spool. It keeps its
// place in a state directory so a restart, even after kill -9, neither
// loses nor repeats an alert (see state.go for how), serves Prometheus
// metrics, /healthz and /readyz, reloads its detector configuration on
// SIGHUP without losing state, and drains on SIGTERM.
//
// Lifecycle: New checks the configuration and opens what can fail early
// (state directory, spools, sinks, listening sockets); Run reads until its
// context is cancelled, then drains: inputs stop, what they read is
// processed, alerts are delivered or spooled, positions are saved.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/kafka"
	"github.com/knockwatch/knockwatch/internal/metrics"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/sink"
	"github.com/knockwatch/knockwatch/internal/source"
)

// Options configure a sensor.
type Options struct {
	// Config is the whole configuration; Config.Watch must be set.
	Config config.Config
	Logger *slog.Logger
	// Clock is the wall clock of the idle tick (default the system clock).
	Clock engine.Clock
	// Stdout receives the JSON lines of a jsonl sink with path "-".
	Stdout io.Writer
	// Version goes into CEF headers.
	Version string
	// CorrelateWindow is the correlator's join window (default 2m, as in
	// a hunt).
	CorrelateWindow time.Duration
}

// Sensor is a configured sensor.
type Sensor struct {
	opts    Options
	cfg     config.Config
	w       config.Watch
	log     *slog.Logger
	horizon int64

	origins  *source.Inputs
	inputs   []*input
	sinks    []sink.Sink
	delivers []*sink.Deliverer
	post     *post
	jrnl     *journal
	pos      positionsFile
	lock     *os.File

	live     *engine.Live
	kafka    []*kafka.Consumer
	metrics  *metrics.Metrics
	sm       *metrics.SensorMetrics
	ready    atomic.Bool
	httpLn   net.Listener
	trackers sync.Map // *engine.Lane -> *tracker

	cfgMu  sync.Mutex
	shards int
	ran    atomic.Bool
}

// New checks the configuration and opens the state directory, the spools,
// the sinks and the listening sockets.
func New(opts Options) (*Sensor, error) {
	if opts.Config.Watch == nil {
		return nil, errors.New("watch: the configuration has no watch section")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = engine.SystemClock{}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	w := opts.Config.Watch.WithDefaults()
	if len(w.Sinks) == 0 {
		w.Sinks = []config.WatchSink{config.WatchSink{Type: config.SinkJSON, Path: "-"}}
		w = w.WithDefaults()
	}
	s := &Sensor{opts: opts, cfg: opts.Config, w: w, log: log, origins: source.NewInputs(), metrics: metrics.New()}
	s.horizon = int64(detect.Horizon(opts.Config) + w.Lateness + w.ReorderWindow)
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	if err := os.MkdirAll(w.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("watch: state directory: %w", err)
	}
	if err := s.lockState(); err != nil {
		return nil, err
	}
	var err error
	if s.pos, err = loadPositions(w.StateDir); err != nil {
		return nil, err
	}
	if s.jrnl, err = openJournal(w.StateDir); err != nil {
		return nil, err
	}
	if err := s.loadRules(&s.cfg); err != nil {
		return nil, err
	}
	if err := s.openSinks(); err != nil {
		return nil, err
	}
	s.post = newPost(w.ReorderWindow, opts.CorrelateWindow, s.delivers, s.jrnl, nil)
	shards := w.Shards
	if shards <= 0 {
		shards = runtime.GOMAXPROCS(0)
	}
	s.shards = shards
	s.live = engine.NewLive(s.cfg, engine.LiveOptions{
		Options:      engine.Options{Shards: shards, Origins: s.origins, Alerts: s.post.add},
		Lateness:     w.Lateness,
		IdleTick:     w.IdleTick,
		MaxClockSkew: w.MaxClockSkew,
		// Events held for ordering (rate × lateness of them) may take a
		// sixteenth of the memory cap.
		MaxQueued: max(1<<16, int(int64(opts.Config.State.MaxBytes)/16/int64(unsafe.Sizeof(event.Event{})))),
		Clock:     opts.Clock,
		Progress:  s.onProgress,
	})
	for i := range w.Inputs {
		in, err := s.newInput(w.Inputs[i])
		if err != nil {
			return nil, err
		}
		s.inputs = append(s.inputs, in)
	}
	s.registerMetrics()
	s.post.onOut = s.sm.Alert
	if w.MetricsListen != "off" {
		if s.httpLn, err = net.Listen("tcp", w.MetricsListen); err != nil {
			return nil, fmt.Errorf("watch: metrics_listen: %w", err)
		}
	}
	ok = true
	return s, nil
}

// lockState takes an exclusive lock on the state directory: two sensors
// sharing one would each replay and skip the other's lines.
func (s *Sensor) lockState() error {
	f, err := os.OpenFile(filepath.Join(s.w.StateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("watch: state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("watch: state directory %s is in use by another knockwatch", s.w.StateDir)
	}
	s.lock = f
	return nil
}

func (s *Sensor) loadRules(cfg *config.Config) error {
	if len(s.w.Rules) == 0 {
		return nil
	}
	rs, err := rules.Load(s.w.Rules, os.ReadFile)
	if err != nil {
		return fmt.Errorf("watch: rules: %w", err)
	}
	cfg.Rules = rs
	return nil
}

func (s *Sensor) openSinks() error {
	for _, sc := range s.w.Sinks {
		var k sink.Sink
		switch sc.Type {
		case config.SinkJSON:
			if sc.Path == "" || sc.Path == "-" {
				k = sink.NewStream(s.opts.Stdout)
			} else {
				f, err := sink.NewFile(sc.Path)
				if err != nil {
					return fmt.Errorf("watch: sink %s: %w", sc.Name, err)
				}
				k = f
			}
		case config.SinkSyslog:
			network, addr, _ := splitScheme(sc.Address)
			k = sink.NewSyslog(sink.SyslogOptions{
				Network: network, Address: addr, Format: sc.Format, OctetCounting: sc.Framing != "newline",
				Facility: *sc.Facility, Hostname: sc.Hostname, Version: s.opts.Version, Timeout: sc.Timeout,
			})
		case config.SinkWebhook:
			headers := sc.Headers
			if sc.HeadersFile != "" {
				fh, err := sink.ReadHeaderFile(sc.HeadersFile)
				if err != nil {
					return fmt.Errorf("watch: sink %s: %w", sc.Name, err)
				}
				for k, v := range sc.Headers {
					if _, dup := fh[http.CanonicalHeaderKey(k)]; dup {
						return fmt.Errorf("watch: sink %s: header %s is set both in headers and in %s", sc.Name, k, sc.HeadersFile)
					}
					fh[k] = v
				}
				headers = fh
			}
			k = sink.NewWebhook(sink.WebhookOptions{URL: sc.URL, Headers: headers, Timeout: sc.Timeout})
		case config.SinkKafka:
			var err error
			if k, err = s.kafkaSink(sc); err != nil {
				return err
			}
		default:
			return fmt.Errorf("watch: sink %s: unknown type %q", sc.Name, sc.Type)
		}
		s.sinks = append(s.sinks, k)
		sp, err := sink.OpenSpool(filepath.Join(s.w.StateDir, "spool", sc.Name), int64(s.w.Spool.MaxBytes))
		if err != nil {
			return fmt.Errorf("watch: sink %s: %w", sc.Name, err)
		}
		sev, _ := alert.ParseSeverity(sc.MinSeverity)
		s.delivers = append(s.delivers, sink.NewDeliverer(sink.DelivererOptions{
			Name: sc.Name, Sink: k, Spool: sp, MinSeverity: sev,
			RetryInitial: sc.RetryInitial, RetryMax: sc.RetryMax, Logger: s.log,
		}))
	}
	return nil
}

// splitScheme reads "udp://host:port".
func splitScheme(addr string) (network, hostport string, ok bool) {
	for _, n := range []string{"udp", "tcp"} {
		if p := n + "://"; len(addr) > len(p) && addr[:len(p)] == p {
			return n, addr[len(p):], true
		}
	}
	return "", addr, false
}

func (s *Sensor) registerMetrics() {
	ms := metrics.Sensor{
		LateAlerts: &s.post.late, Deduplicated: &s.post.deduped, Pending: &s.post.pending,
		Journal: s.jrnl.size, Ready: &s.ready,
		Detectors: s.live.DetectorStats,
	}
	for _, in := range s.inputs {
		ms.Inputs = append(ms.Inputs, in.metrics)
	}
	for i, d := range s.delivers {
		ms.Sinks = append(ms.Sinks, metrics.Sink{Name: s.w.Sinks[i].Name, Stats: &d.Stats, Spool: d.Spool(), MaxSpool: int64(s.w.Spool.MaxBytes)})
	}
	ms.Live = s.live.Stats()
	s.sm = s.metrics.RegisterSensor(ms)
	if len(s.kafka) > 0 {
		s.metrics.Registry.MustRegister(kafka.Collector(s.kafka...))
	}
}

// Metrics returns the sensor's registry (tests read it).
func (s *Sensor) Metrics() *metrics.Metrics { return s.metrics }

// MetricsAddr is the address of the metrics endpoint (nil when off).
func (s *Sensor) MetricsAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// Listener returns the syslog listener of the named input (tests read its
// bound ports).
func (s *Sensor) Listener(name string) *source.SyslogListener {
	for _, in := range s.inputs {
		if in.cfg.Name == name {
			return in.listener
		}
	}
	return nil
}

// Ready reports whether the sensor is reading its inputs.
func (s *Sensor) Ready() bool { return s.ready.Load() }

// Handler serves /metrics, /healthz and /readyz.
func (s *Sensor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		var down []string
		for _, in := range s.inputs {
			if in.failing.Load() {
				down = append(down, in.cfg.Name)
			}
		}
		if len(down) > 0 {
			http.Error(w, fmt.Sprintf("inputs failing: %v", down), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Run reads the inputs until ctx is done, then drains.
func (s *Sensor) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	for _, d := range s.delivers {
		d.Start()
	}
	var srv *http.Server
	if s.httpLn != nil {
		srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics endpoint", "err", err)
			}
		}()
	}
	inCtx, stopInputs := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, in := range s.inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.supervise(inCtx, in)
		}()
	}
	s.ready.Store(true)
	s.log.Info("watching", "inputs", len(s.inputs), "sinks", len(s.delivers), "state_dir", s.w.StateDir, "shards", s.shards)

	syncTick := time.NewTicker(50 * time.Millisecond)
	ckTick := time.NewTicker(s.w.CheckpointInterval)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-syncTick.C:
			// Group commit of the delivered journal: an alert out is
			// remembered within 50ms, so a crash right after sending it
			// rarely sends it again.
			if err := s.jrnl.sync(); err != nil {
				s.log.Error("delivered journal", "err", err)
			}
		case <-ckTick.C:
			if err := s.checkpoint(); err != nil {
				s.log.Error("checkpoint", "err", err)
			}
		}
	}
	syncTick.Stop()
	ckTick.Stop()

	// Drain: inputs stop and hand over what they read; the engine routes
	// it and reports; alerts go out or to the spools; positions are saved.
	s.log.Info("draining")
	s.ready.Store(false)
	stopInputs()
	wg.Wait()
	s.live.Stop()
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	for _, d := range s.delivers {
		d.Stop(dctx)
	}
	cancel()
	err := s.checkpoint()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	s.closeAll()
	s.log.Info("stopped")
	return err
}

// onProgress runs on the engine's progress goroutine.
func (s *Sensor) onProgress(p engine.Progress) {
	for _, m := range p.Marks {
		if t, ok := s.trackers.Load(m.Lane); ok {
			t.(*tracker).add(m.Mark, m.MaxTime)
		}
	}
	s.post.progress(p.Watermark, p.Final)
}

// checkpoint saves every input's positions, after making the delivered
// journal and the spools durable (so a saved position never skips lines
// whose alerts are not safely out).
func (s *Sensor) checkpoint() error {
	d := s.post.delivered.Load()
	cut := d - s.horizon
	if err := s.jrnl.sync(); err != nil {
		return err
	}
	for _, dl := range s.delivers {
		if err := dl.Sync(); err != nil {
			return err
		}
	}
	pf := positionsFile{Version: 1, Inputs: map[string]inputPosition{}}
	for _, in := range s.inputs {
		if in.tracker == nil {
			continue
		}
		in.tracker.advance(cut)
		replay, resume := in.tracker.positions()
		if replay == nil {
			continue
		}
		ip := inputPosition{Kind: in.cfg.Type, Path: in.cfg.Path}
		switch r := replay.(type) {
		case source.Position:
			rs := resume.(source.Position)
			ip.Replay, ip.Resume = &r, &rs
		case source.JournalPos:
			rs := resume.(source.JournalPos)
			ip.JReply, ip.JResum = &r, &rs
		}
		pf.Inputs[in.cfg.Name] = ip
	}
	if err := savePositions(s.w.StateDir, pf); err != nil {
		return fmt.Errorf("save positions: %w", err)
	}
	if d > -1<<62 {
		if err := s.jrnl.compact(cut - s.horizon); err != nil {
			return fmt.Errorf("delivered journal: %w", err)
		}
	}
	return nil
}

// Reload applies a new configuration's detector settings (thresholds,
// allowlists, authorized sequences, rules) without losing state. Inputs,
// sinks and the rest of the watch section change only on restart.
func (s *Sensor) Reload(cfg config.Config) error {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	err := s.reload(cfg)
	s.sm.Reload(err == nil)
	return err
}

func (s *Sensor) reload(cfg config.Config) error {
	if cfg.Watch == nil {
		return errors.New("reload: the configuration has no watch section")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if len(cfg.Watch.Rules) > 0 {
		rs, err := rules.Load(cfg.Watch.Rules, os.ReadFile)
		if err != nil {
			return fmt.Errorf("reload: rules: %w", err)
		}
		cfg.Rules = rs
	}
	if cfg.State.MaxBytes != s.cfg.State.MaxBytes {
		s.log.Warn("state.max_bytes changes on restart only")
	}
	if nw := cfg.Watch.WithDefaults(); !reflect.DeepEqual(nw.Inputs, s.w.Inputs) || (len(nw.Sinks) > 0 && !reflect.DeepEqual(nw.Sinks, s.w.Sinks)) ||
		nw.StateDir != s.w.StateDir || nw.MetricsListen != s.w.MetricsListen {
		s.log.Warn("inputs, sinks, state_dir and metrics_listen change on restart only; the detector settings are reloaded now")
	}
	if s.live == nil {
		return errors.New("reload: the sensor is not running")
	}
	kept, err := s.live.Reconfigure(cfg)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	for _, c := range s.kafka {
		c.Reconfigure(cfg)
	}
	if len(kept) > 0 {
		s.log.Warn("detectors that keep their configuration until restart", "detectors", kept)
	}
	for _, k := range s.sinks {
		if f, ok := k.(*sink.File); ok {
			if err := f.Reopen(); err != nil {
				s.log.Error("reopen alert file", "err", err)
			}
		}
	}
	s.cfg = cfg
	s.log.Info("configuration reloaded")
	return nil
}

func (s *Sensor) closeAll() {
	if s.live != nil && !s.ran.Load() {
		s.live.Stop()
	}
	for _, in := range s.inputs {
		if in.listener != nil && !s.ran.Load() {
			in.listener.Close()
		}
	}
	for _, k := range s.sinks {
		k.Close()
	}
	for _, d := range s.delivers {
		if sp := d.Spool(); sp != nil {
			sp.Close()
		}
	}
	if s.jrnl != nil {
		s.jrnl.close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
}
