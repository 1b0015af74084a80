package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Watch configures the sensor (`knockwatch watch`): what it reads, where its
// findings go and how it keeps its place across restarts. The detectors use
// the rest of the file exactly as a hunt does, so the same input yields the
// same alerts through both.
//
// Zero values mean "the default"; WithDefaults fills them in. Validate checks
// everything that can be checked without I/O (no socket is bound and no file
// opened here); the sensor opens inputs and sinks when it starts.
type Watch struct {
	// StateDir holds each followed file's read position, the journal of
	// delivered alert ids and the sinks' spools.
	StateDir string `yaml:"state_dir"`
	// MetricsListen is the address of the HTTP endpoint serving /metrics,
	// /healthz and /readyz ("127.0.0.1:9750"); "off" disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// Lateness is how far out of time order events from different inputs
	// (or different senders of one listener) may arrive and still be put
	// in order.
	Lateness time.Duration `yaml:"lateness"`
	// IdleTick is how often the wall clock is consulted while the inputs are
	// quiet: event time is then advanced by the quiet time, so a knock is
	// judged about its settle time after its last packet even if nothing
	// else arrives.
	IdleTick time.Duration `yaml:"idle_tick"`
	// ReorderWindow is how long (in event time) alerts are held to hand them
	// to enrichment and the sinks in time order.
	ReorderWindow time.Duration `yaml:"reorder_window"`
	// MaxClockSkew bounds how far ahead of the local clock an event's time
	// may move event time: a sender with a clock an hour fast must not make
	// every other input late.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// CheckpointInterval is how often read positions are saved.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Shards is the number of detector goroutines (0: the number of CPUs).
	Shards int `yaml:"shards"`
	// Rules are magic-packet rule files extending or replacing the
	// built-in rules (see `knockwatch rules`); read again on SIGHUP.
	Rules []string `yaml:"rules"`

	Inputs []WatchInput `yaml:"inputs"`
	Sinks  []WatchSink  `yaml:"sinks"`
	// Spool bounds the disk space each sink's undelivered alerts may take.
	Spool Spool `yaml:"spool"`
}

// Input types.
const (
	InputFile     = "file"
	InputSyslog   = "syslog"
	InputJournald = "journald"
	InputCapture  = "capture"
	InputKafka    = "kafka"
)

// Sink types.
const (
	SinkJSON    = "jsonl"
	SinkSyslog  = "syslog"
	SinkWebhook = "webhook"
	SinkKafka   = "kafka"
)

// WatchInput is one input of the sensor. Type says which of the fields
// apply; a field that does not apply to the type is an error, so a typo
// cannot silently configure nothing.
type WatchInput struct {
	// Name labels the input's metrics and its evidence ("kern:1234").
	// Default: the type and the path or address.
	Name string `yaml:"name"`
	// Type is file, syslog, journald, capture or kafka.
	Type string `yaml:"type"`
	// Format forces a decoder (see `knockwatch formats`); empty sniffs
	// files and uses syslog for the listener and journald for journald.
	Format string `yaml:"format"`
	// Timezone is the zone of timestamps that carry none (IANA name;
	// default Local).
	Timezone string `yaml:"timezone"`

	// file
	// Path is the file to follow. Rotated neighbours (path.1, path.1.gz)
	// are read first on the very first start if StartAt is "beginning".
	Path string `yaml:"path"`
	// StartAt is where to start a file that has no saved position:
	// "end" (default: only new lines) or "beginning".
	StartAt string `yaml:"start_at"`
	// Neighbours reads rotated neighbours of Path (.1, .1.gz) that are
	// newer than the saved position, on start-up (default true).
	Neighbours *bool `yaml:"neighbours"`
	// PollInterval is how often the file is checked even without an
	// inotify event (default 1s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxLine is the longest line read; longer lines are counted and
	// skipped, never split (default 256KiB).
	MaxLine ByteSize `yaml:"max_line"`

	// syslog
	// Listen is the address the syslog listener binds ("127.0.0.1:5514").
	Listen string `yaml:"listen"`
	// Protocols lists udp and/or tcp (default both).
	Protocols []string `yaml:"protocols"`
	// MaxMessage is the largest syslog message accepted (default 64KiB);
	// larger frames are counted and skipped.
	MaxMessage ByteSize `yaml:"max_message"`
	// MaxConnections caps concurrent TCP connections (default 256).
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource caps TCP connections from one address
	// (default 16).
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// IdleTimeout closes a TCP connection that sends nothing for this long
	// (default 5m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// FrameTimeout closes a TCP connection that takes longer than this to
	// send one message once it started it (slowloris; default 30s).
	FrameTimeout time.Duration `yaml:"frame_timeout"`

	// journald
	// Journalctl is the journalctl binary (default: found in PATH).
	Journalctl string `yaml:"journalctl"`
	// Matches are journalctl match arguments ("_TRANSPORT=kernel",
	// "SYSLOG_IDENTIFIER=knockd"); empty reads the whole journal.
	Matches []string `yaml:"matches"`
	// Kernel adds -k (the kernel ring buffer messages of this boot).
	Kernel bool `yaml:"kernel"`

	// capture
	// Interface is the network interface captured (needs CAP_NET_RAW).
	Interface string `yaml:"interface"`
	// Promiscuous puts the interface in promiscuous mode.
	Promiscuous bool `yaml:"promiscuous"`
	// Outgoing is what to do with the host's own packets: auto (drop on
	// loopback only), keep or drop.
	Outgoing string `yaml:"outgoing"`
	// RingMB is the capture ring's size in MiB (default 32).
	RingMB int `yaml:"ring_mb"`
	// BPF is a classic BPF filter as `tcpdump -y EN10MB -dd EXPR` prints
	// it.
	BPF string `yaml:"bpf"`

	// kafka: topics read as a consumer group member (see kafka.go).
	Kafka *KafkaInput `yaml:"kafka"`
}

// WatchSink is one destination of alerts.
type WatchSink struct {
	// Name labels the sink's metrics and names its spool directory.
	// Default: the type and its index.
	Name string `yaml:"name"`
	// Type is jsonl, syslog, webhook or kafka.
	Type string `yaml:"type"`
	// MinSeverity drops findings below it (default info: everything).
	MinSeverity string `yaml:"min_severity"`

	// jsonl
	// Path is the file alerts are appended to; "-" or empty is stdout.
	Path string `yaml:"path"`

	// syslog
	// Address is the collector ("udp://siem.example:514",
	// "tcp://10.0.0.5:6514"); the scheme is the transport.
	Address string `yaml:"address"`
	// Format is the message: cef (default) or json.
	Format string `yaml:"format"`
	// Framing is the TCP framing: octet-counting (default, RFC 6587) or
	// newline.
	Framing string `yaml:"framing"`
	// Facility is the syslog facility (default local4 = 20).
	Facility *int `yaml:"facility"`
	// Hostname is the HOSTNAME field (default: this host's name).
	Hostname string `yaml:"hostname"`

	// webhook
	// URL receives one JSON POST per alert.
	URL string `yaml:"url"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers"`
	// HeadersFile names a file of "Name: value" lines added to every
	// request too: a token kept out of this file, which can then stay
	// world-readable (systemd hands the service a copy through
	// LoadCredential=). It is read when the sensor starts.
	HeadersFile string `yaml:"headers_file"`

	// kafka: alerts produced to a topic (see kafka.go).
	Kafka *KafkaSink `yaml:"kafka"`

	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// RetryInitial is the first wait after a failed delivery (default 1s);
	// the wait doubles up to RetryMax (default 1m).
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
}

// Spool bounds the spools of undelivered alerts.
type Spool struct {
	// MaxBytes is the disk space one sink's spool may take (default
	// 64MB). When it is full, new alerts for that sink are dropped and
	// counted.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Defaults of the watch section.
const (
	DefaultStateDir           = "/var/lib/knockwatch"
	DefaultMetricsListen      = "127.0.0.1:9750"
	DefaultLateness           = 2 * time.Second
	DefaultIdleTick           = 250 * time.Millisecond
	DefaultReorderWindow      = time.Second
	DefaultMaxClockSkew       = time.Minute
	DefaultCheckpointInterval = time.Second
	DefaultMaxMessage         = 64 << 10
	DefaultMaxConnections     = 256
	DefaultMaxConnsPerSource  = 16
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultFrameTimeout       = 30 * time.Second
	DefaultPollInterval       = time.Second
	DefaultMaxLine            = 256 << 10
	DefaultSpoolBytes         = 64 << 20
	DefaultSinkTimeout        = 10 * time.Second
	DefaultRetryInitial       = time.Second
	DefaultRetryMax           = time.Minute
	// DefaultSyslogFacility is local4.
	DefaultSyslogFacility = 20
)

// WithDefaults returns w with every unset value at its default.
func (w Watch) WithDefaults() Watch {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if w.StateDir == "" {
		w.StateDir = DefaultStateDir
	}
	if w.MetricsListen == "" {
		w.MetricsListen = DefaultMetricsListen
	}
	def(&w.Lateness, DefaultLateness)
	def(&w.IdleTick, DefaultIdleTick)
	def(&w.ReorderWindow, DefaultReorderWindow)
	def(&w.MaxClockSkew, DefaultMaxClockSkew)
	def(&w.CheckpointInterval, DefaultCheckpointInterval)
	if w.Spool.MaxBytes == 0 {
		w.Spool.MaxBytes = DefaultSpoolBytes
	}
	w.Inputs = append([]WatchInput(nil), w.Inputs...)
	for i := range w.Inputs {
		in := &w.Inputs[i]
		if in.Timezone == "" {
			in.Timezone = "Local"
		}
		switch in.Type {
		case InputFile:
			if in.StartAt == "" {
				in.StartAt = "end"
			}
			if in.Neighbours == nil {
				t := true
				in.Neighbours = &t
			}
			def(&in.PollInterval, DefaultPollInterval)
			if in.MaxLine == 0 {
				in.MaxLine = DefaultMaxLine
			}
		case InputSyslog:
			if len(in.Protocols) == 0 {
				in.Protocols = []string{"udp", "tcp"}
			}
			if in.MaxMessage == 0 {
				in.MaxMessage = DefaultMaxMessage
			}
			if in.MaxConnections == 0 {
				in.MaxConnections = DefaultMaxConnections
			}
			if in.MaxConnectionsPerSource == 0 {
				in.MaxConnectionsPerSource = DefaultMaxConnsPerSource
			}
			def(&in.IdleTimeout, DefaultIdleTimeout)
			def(&in.FrameTimeout, DefaultFrameTimeout)
			if in.Format == "" {
				in.Format = "syslog"
			}
		case InputJournald:
			if in.Journalctl == "" {
				in.Journalctl = "journalctl"
			}
			if in.Format == "" {
				in.Format = "journald"
			}
		case InputKafka:
			if in.Kafka != nil {
				k := in.Kafka.WithDefaults(in.Format, w.IdleTick)
				in.Kafka = &k
			}
		}
		if in.Name == "" {
			in.Name = defaultInputName(in)
		}
	}
	w.Sinks = append([]WatchSink(nil), w.Sinks...)
	for i := range w.Sinks {
		s := &w.Sinks[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s%d", s.Type, i)
		}
		if s.MinSeverity == "" {
			s.MinSeverity = "info"
		}
		def(&s.Timeout, DefaultSinkTimeout)
		def(&s.RetryInitial, DefaultRetryInitial)
		def(&s.RetryMax, DefaultRetryMax)
		if s.Type == SinkSyslog {
			if s.Format == "" {
				s.Format = "cef"
			}
			if s.Framing == "" {
				s.Framing = "octet-counting"
			}
			if s.Facility == nil {
				f := DefaultSyslogFacility
				s.Facility = &f
			}
		}
	}
	return w
}

func defaultInputName(in *WatchInput) string {
	switch in.Type {
	case InputFile:
		return "file:" + in.Path
	case InputSyslog:
		return "syslog:" + in.Listen
	case InputJournald:
		return "journald"
	case InputCapture:
		return "capture:" + in.Interface
	case InputKafka:
		if in.Kafka != nil && in.Kafka.Group != "" {
			return "kafka:" + in.Kafka.Group
		}
		return "kafka:" + DefaultKafkaGroup
	}
	return in.Type
}

// nameRE is what an input or sink name may look like: it becomes a metric
// label value and a spool directory name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}$`)

// sinkNameRE is stricter: a sink name is a directory name.
var sinkNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// validate checks the watch section. Every message starts with the path of
// the value at fault ("watch.inputs[1].listen"), which Check turns into the
// line of the file.
func (w *Watch) validate() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("watch.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if w.StateDir != "" && !filepath.IsAbs(w.StateDir) {
		bad("state_dir", "%q: must be an absolute path", w.StateDir)
	}
	if w.MetricsListen != "" && w.MetricsListen != "off" {
		if _, err := netip.ParseAddrPort(w.MetricsListen); err != nil {
			bad("metrics_listen", "%q: want an address and port such as 127.0.0.1:9750, or off", w.MetricsListen)
		}
	}
	nonNeg := func(path string, d time.Duration) {
		if d < 0 {
			bad(path, "%s: must not be negative", d)
		}
	}
	nonNeg("lateness", w.Lateness)
	nonNeg("reorder_window", w.ReorderWindow)
	nonNeg("max_clock_skew", w.MaxClockSkew)
	if w.IdleTick < 0 || (w.IdleTick > 0 && w.IdleTick < 10*time.Millisecond) || w.IdleTick > time.Minute {
		bad("idle_tick", "%s: must be 10ms..1m", w.IdleTick)
	}
	if w.CheckpointInterval < 0 || (w.CheckpointInterval > 0 && w.CheckpointInterval < 50*time.Millisecond) {
		bad("checkpoint_interval", "%s: must be at least 50ms", w.CheckpointInterval)
	}
	if w.Shards < 0 || w.Shards > 256 {
		bad("shards", "%d: must be 0..256", w.Shards)
	}
	if w.Spool.MaxBytes < 0 || (w.Spool.MaxBytes > 0 && w.Spool.MaxBytes < 64<<10) {
		bad("spool.max_bytes", "%d: must be at least 64KB", w.Spool.MaxBytes)
	}
	names := map[string]int{}
	paths := map[string]int{}
	listens := map[string]int{}
	for i, in := range w.Inputs {
		p := fmt.Sprintf("inputs[%d]", i)
		name := in.Name
		if name == "" {
			name = defaultInputName(&in)
		}
		if in.Name != "" && !nameRE.MatchString(in.Name) {
			bad(p+".name", "%q: use letters, digits and _.:/@- (at most 128)", in.Name)
		}
		if j, dup := names[name]; dup {
			bad(p+".name", "%q: also the name of inputs[%d]", name, j)
		}
		names[name] = i
		if in.Timezone != "" {
			if _, err := time.LoadLocation(in.Timezone); err != nil {
				bad(p+".timezone", "%q: unknown time zone", in.Timezone)
			}
		}
		// fields that belong to other types
		type field struct {
			key  string
			set  bool
			only string
		}
		fields := []field{
			{"path", in.Path != "", InputFile},
			{"start_at", in.StartAt != "", InputFile},
			{"neighbours", in.Neighbours != nil, InputFile},
			{"poll_interval", in.PollInterval != 0, InputFile},
			{"max_line", in.MaxLine != 0, InputFile},
			{"listen", in.Listen != "", InputSyslog},
			{"protocols", len(in.Protocols) > 0, InputSyslog},
			{"max_message", in.MaxMessage != 0, InputSyslog},
			{"max_connections", in.MaxConnections != 0, InputSyslog},
			{"max_connections_per_source", in.MaxConnectionsPerSource != 0, InputSyslog},
			{"idle_timeout", in.IdleTimeout != 0, InputSyslog},
			{"frame_timeout", in.FrameTimeout != 0, InputSyslog},
			{"journalctl", in.Journalctl != "", InputJournald},
			{"matches", len(in.Matches) > 0, InputJournald},
			{"kernel", in.Kernel, InputJournald},
			{"interface", in.Interface != "", InputCapture},
			{"promiscuous", in.Promiscuous, InputCapture},
			{"outgoing", in.Outgoing != "", InputCapture},
			{"ring_mb", in.RingMB != 0, InputCapture},
			{"bpf", in.BPF != "", InputCapture},
			{"kafka", in.Kafka != nil, InputKafka},
		}
		switch in.Type {
		case InputFile, InputSyslog, InputJournald, InputCapture, InputKafka:
			for _, f := range fields {
				if f.set && f.only != in.Type {
					bad(p+"."+f.key, "only for inputs of type %s, not %s", f.only, in.Type)
				}
			}
		case "":
			bad(p+".type", "required: file, syslog, journald, capture or kafka")
			continue
		default:
			bad(p+".type", "%q: want file, syslog, journald, capture or kafka", in.Type)
			continue
		}
		switch in.Type {
		case InputFile:
			if in.Path == "" {
				bad(p+".path", "required for a file input")
			} else if !filepath.IsAbs(in.Path) {
				bad(p+".path", "%q: must be an absolute path", in.Path)
			} else if j, dup := paths[filepath.Clean(in.Path)]; dup {
				bad(p+".path", "%q: already followed by inputs[%d]", in.Path, j)
			} else {
				paths[filepath.Clean(in.Path)] = i
			}
			if in.StartAt != "" && in.StartAt != "end" && in.StartAt != "beginning" {
				bad(p+".start_at", "%q: want beginning or end", in.StartAt)
			}
			if in.PollInterval < 0 || (in.PollInterval > 0 && in.PollInterval < 10*time.Millisecond) {
				bad(p+".poll_interval", "%s: must be at least 10ms", in.PollInterval)
			}
			if in.MaxLine < 0 || (in.MaxLine > 0 && (in.MaxLine < 1<<10 || in.MaxLine > 16<<20)) {
				bad(p+".max_line", "%d: must be 1KB..16MB", in.MaxLine)
			}
		case InputSyslog:
			if in.Listen == "" {
				bad(p+".listen", "required for a syslog input (such as 127.0.0.1:5514)")
			} else if _, port, err := net.SplitHostPort(in.Listen); err != nil {
				bad(p+".listen", "%q: want host:port", in.Listen)
			} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				bad(p+".listen", "%q: bad port", in.Listen)
			}
			for _, proto := range in.Protocols {
				if proto != "udp" && proto != "tcp" {
					bad(p+".protocols", "%q: want udp or tcp", proto)
				}
			}
			if in.MaxMessage < 0 || (in.MaxMessage > 0 && (in.MaxMessage < 480 || in.MaxMessage > 16<<20)) {
				// RFC 5424 6.1: receivers must accept 480 bytes.
				bad(p+".max_message", "%d: must be 480B..16MB", in.MaxMessage)
			}
			if in.MaxConnections < 0 || in.MaxConnections > 65536 {
				bad(p+".max_connections", "%d: must be 1..65536", in.MaxConnections)
			}
			if in.MaxConnectionsPerSource < 0 || (in.MaxConnections > 0 && in.MaxConnectionsPerSource > in.MaxConnections) {
				bad(p+".max_connections_per_source", "%d: must be 1..max_connections", in.MaxConnectionsPerSource)
			}
			if in.IdleTimeout < 0 || (in.IdleTimeout > 0 && in.IdleTimeout < time.Second) {
				bad(p+".idle_timeout", "%s: must be at least 1s", in.IdleTimeout)
			}
			if in.FrameTimeout < 0 || (in.FrameTimeout > 0 && in.FrameTimeout < 100*time.Millisecond) {
				bad(p+".frame_timeout", "%s: must be at least 100ms", in.FrameTimeout)
			}
			if in.Listen != "" {
				for _, proto := range in.Protocols {
					k := proto + " " + in.Listen
					if j, dup := listens[k]; dup {
						bad(p+".listen", "%s %s: already used by inputs[%d]", proto, in.Listen, j)
					}
					listens[k] = i
				}
			}
		case InputJournald:
			for j, m := range in.Matches {
				if !strings.Contains(m, "=") && m != "+" {
					bad(fmt.Sprintf("%s.matches[%d]", p, j), "%q: want FIELD=VALUE or +", m)
				}
			}
		case InputKafka:
			if in.Kafka == nil {
				bad(p+".kafka", "required for a kafka input (brokers, topics)")
			} else {
				errs = append(errs, in.Kafka.Validate("watch."+p+".kafka")...)
			}
		case InputCapture:
			if in.Interface == "" {
				bad(p+".interface", "required for a capture input")
			}
			if in.Outgoing != "" && in.Outgoing != "auto" && in.Outgoing != "keep" && in.Outgoing != "drop" {
				bad(p+".outgoing", "%q: want auto, keep or drop", in.Outgoing)
			}
			if in.RingMB < 0 || in.RingMB > 4096 {
				bad(p+".ring_mb", "%d: must be 1..4096", in.RingMB)
			}
		}
	}
	for i, r := range w.Rules {
		if !filepath.IsAbs(r) {
			bad(fmt.Sprintf("rules[%d]", i), "%q: must be an absolute path", r)
		}
	}
	if len(w.Inputs) == 0 {
		bad("inputs", "at least one input is required")
	}
	snames := map[string]int{}
	for i, s := range w.Sinks {
		p := fmt.Sprintf("sinks[%d]", i)
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("%s%d", s.Type, i)
		}
		if s.Name != "" && !sinkNameRE.MatchString(s.Name) {
			bad(p+".name", "%q: use letters, digits and _.- (at most 64)", s.Name)
		}
		if j, dup := snames[name]; dup {
			bad(p+".name", "%q: also the name of sinks[%d]", name, j)
		}
		snames[name] = i
		if s.MinSeverity != "" {
			if _, err := alert.ParseSeverity(s.MinSeverity); err != nil {
				bad(p+".min_severity", "%v", err)
			}
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"timeout", s.Timeout}, {"retry_initial", s.RetryInitial}, {"retry_max", s.RetryMax}} {
			if d.v < 0 {
				bad(p+"."+d.key, "%s: must not be negative", d.v)
			}
		}
		if s.RetryMax > 0 && s.RetryInitial > s.RetryMax {
			bad(p+".retry_initial", "%s: must not exceed retry_max", s.RetryInitial)
		}
		type field struct {
			key  string
			set  bool
			only string
		}
		fields := []field{
			{"path", s.Path != "", SinkJSON},
			{"address", s.Address != "", SinkSyslog},
			{"format", s.Format != "", SinkSyslog},
			{"framing", s.Framing != "", SinkSyslog},
			{"facility", s.Facility != nil, SinkSyslog},
			{"hostname", s.Hostname != "", SinkSyslog},
			{"url", s.URL != "", SinkWebhook},
			{"headers", len(s.Headers) > 0, SinkWebhook},
			{"headers_file", s.HeadersFile != "", SinkWebhook},
			{"kafka", s.Kafka != nil, SinkKafka},
		}
		switch s.Type {
		case SinkJSON, SinkSyslog, SinkWebhook, SinkKafka:
			for _, f := range fields {
				if f.set && f.only != s.Type {
					bad(p+"."+f.key, "only for sinks of type %s, not %s", f.only, s.Type)
				}
			}
		case "":
			bad(p+".type", "required: jsonl, syslog, webhook or kafka")
			continue
		default:
			bad(p+".type", "%q: want jsonl, syslog, webhook or kafka", s.Type)
			continue
		}
		switch s.Type {
		case SinkJSON:
			if s.Path != "" && s.Path != "-" && !filepath.IsAbs(s.Path) {
				bad(p+".path", "%q: must be an absolute path or - (stdout)", s.Path)
			}
		case SinkSyslog:
			if s.Address == "" {
				bad(p+".address", "required (udp://host:514 or tcp://host:514)")
			} else if u, err := url.Parse(s.Address); err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Port() == "" {
				bad(p+".address", "%q: want udp://host:port or tcp://host:port", s.Address)
			}
			if s.Format != "" && s.Format != "cef" && s.Format != "json" {
				bad(p+".format", "%q: want cef or json", s.Format)
			}
			if s.Framing != "" && s.Framing != "octet-counting" && s.Framing != "newline" {
				bad(p+".framing", "%q: want octet-counting or newline", s.Framing)
			}
			if s.Facility != nil && (*s.Facility < 0 || *s.Facility > 23) {
				bad(p+".facility", "%d: must be 0..23", *s.Facility)
			}
		case SinkKafka:
			if s.Kafka == nil {
				bad(p+".kafka", "required for a kafka sink (brokers, topic)")
			} else {
				errs = append(errs, s.Kafka.Validate("watch."+p+".kafka")...)
			}
		case SinkWebhook:
			if s.URL == "" {
				bad(p+".url", "required")
			} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(p+".url", "%q: want an http or https URL", s.URL)
			}
			for k := range s.Headers {
				if k == "" || strings.ContainsAny(k, " :\r\n") {
					bad(p+".headers", "%q: not a header name", k)
				}
			}
			if s.HeadersFile != "" && !filepath.IsAbs(s.HeadersFile) {
				bad(p+".headers_file", "%q: must be an absolute path", s.HeadersFile)
			}
		}
	}
	return errs
}

// Problem is one error in a configuration file, with its line (0 when the
// error is about something missing from the file).
type Problem struct {
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// ProblemsError is every problem found in one configuration file.
type ProblemsError struct {
	Path     string
	Problems []Problem
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "config: %s: %s", e.Path, p)
	}
	return b.String()
}

// FormatChecker validates an input format name. The CLI passes a function
// over the decoder registry: config does not import the decoders.
type FormatChecker func(name string) error

// CheckFile reads a configuration file and reports every problem with its
// line: YAML syntax, unknown keys, bad values and failed validation, all at
// once rather than the first only. It returns the configuration (over the
// defaults) when there is no problem.
func CheckFile(path string, formats FormatChecker) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, probs := Check(data, formats)
	if len(probs) > 0 {
		return Config{}, &ProblemsError{Path: path, Problems: probs}
	}
	return cfg, nil
}

// Check decodes data strictly and validates it, collecting every problem.
func Check(data []byte, formats FormatChecker) (Config, []Problem) {
	cfg := Default()
	var probs []Problem
	var root yaml.Node
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := yaml.Load(data, &root); err != nil {
			return Config{}, yamlProblems(err)
		}
		if err := yaml.Load(data, &cfg, yaml.WithKnownFields()); err != nil {
			probs = append(probs, yamlProblems(err)...)
		}
	}
	var verrs []error
	if err := cfg.Validate(); err != nil {
		verrs = append(verrs, unjoin(err)...)
	}
	if cfg.Watch != nil && formats != nil {
		for i, in := range cfg.Watch.Inputs {
			if in.Format != "" {
				if err := formats(in.Format); err != nil {
					verrs = append(verrs, fmt.Errorf("watch.inputs[%d].format: %v", i, err))
				}
			}
			if in.Kafka != nil {
				verrs = append(verrs, in.Kafka.checkFormats(fmt.Sprintf("watch.inputs[%d].kafka", i), formats)...)
			}
		}
	}
	for _, e := range verrs {
		msg := e.Error()
		probs = append(probs, Problem{Line: lineOf(&root, pathOf(msg)), Msg: msg})
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
		return Config{}, probs
	}
	return cfg, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// yamlProblems splits a YAML error into its located parts.
func yamlProblems(err error) []Problem {
	var les *yaml.LoadErrors
	if errors.As(err, &les) && len(les.Errors) > 0 {
		out := make([]Problem, 0, len(les.Errors))
		for _, le := range les.Errors {
			out = append(out, Problem{Line: le.Mark.Line, Msg: le.Message})
		}
		return out
	}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return []Problem{{Line: le.Mark.Line, Msg: le.Message}}
	}
	return []Problem{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
}

// pathRE finds the path a validation message starts with:
// "watch.inputs[1].listen: ..." or "sequence.min_ports: ...".
var pathRE = regexp.MustCompile(`^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*)[: ]`)

func pathOf(msg string) string {
	m := pathRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return m[1]
}

var stepRE = regexp.MustCompile(`^([a-z_]+)(?:\[(\d+)\])?$`)

// lineOf finds the line of the value at path in the document, or of its
// deepest ancestor that the file has (a required key that is missing is
// reported at the line of the mapping that lacks it).
func lineOf(root *yaml.Node, path string) int {
	if root == nil || path == "" {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, step := range strings.Split(path, ".") {
		m := stepRE.FindStringSubmatch(step)
		if m == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var val *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == m[1] {
				line = n.Content[i].Line
				val = n.Content[i+1]
				break
			}
		}
		if val == nil {
			if line == 0 {
				line = n.Line
			}
			return line
		}
		n = val
		if m[2] != "" {
			idx, _ := strconv.Atoi(m[2])
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}
