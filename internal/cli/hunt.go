package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/sink"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// inputFlags are the flags every command that reads inputs shares.
type inputFlags struct {
	configPath string
	format     string
	year       int
	tz         string
	bootTime   string
	workers    int
	shards     int
	rules      []string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.configPath, "config", "c", "", "YAML configuration: thresholds, allowlists, authorized sequences")
	fl.StringVar(&f.format, "format", "", "force the input format instead of sniffing it per file (see `knockwatch formats`)")
	fl.IntVar(&f.year, "year", 0, "year of year-less syslog timestamps (default: from each file's modification time)")
	fl.StringVar(&f.tz, "tz", "Local", "time zone of timestamps that carry none (IANA name, e.g. UTC or Europe/Berlin)")
	fl.StringVar(&f.bootTime, "boot-time", "", "boot time (RFC 3339) to date dmesg lines that carry only uptime")
	fl.IntVar(&f.workers, "workers", 0, "decoder goroutines per file (default: number of CPUs for one or two files, else 1)")
	fl.IntVar(&f.shards, "shards", 0, "detector shards (default: number of CPUs)")
	fl.StringArrayVar(&f.rules, "rules", nil, "magic-packet rule file extending or replacing the built-in rules (repeatable; see `knockwatch rules`)")
}

func (f *inputFlags) options(paths []string) (hunt.Options, error) {
	cfg := config.Default()
	if f.configPath != "" {
		var err error
		if cfg, err = config.Load(f.configPath); err != nil {
			return hunt.Options{}, err
		}
	}
	loc, err := time.LoadLocation(f.tz)
	if err != nil {
		return hunt.Options{}, fmt.Errorf("--tz %q: %w", f.tz, err)
	}
	var boot time.Time
	if f.bootTime != "" {
		if boot, err = time.Parse(time.RFC3339Nano, f.bootTime); err != nil {
			return hunt.Options{}, fmt.Errorf("--boot-time: %w", err)
		}
	}
	if f.format != "" {
		if _, err := decode.Lookup(f.format); err != nil {
			return hunt.Options{}, fmt.Errorf("--format: %w", err)
		}
	}
	if f.year != 0 && (f.year < 1970 || f.year > 9999) {
		return hunt.Options{}, fmt.Errorf("--year %d: out of range", f.year)
	}
	rs, err := loadRules(f.rules)
	if err != nil {
		return hunt.Options{}, err
	}
	cfg.Rules = rs
	return hunt.Options{
		Paths:    paths,
		Config:   cfg,
		Format:   f.format,
		Year:     f.year,
		Location: loc,
		BootTime: boot,
		Workers:  f.workers,
		Shards:   f.shards,
		Packets:  packetOpenerFor(rs),
	}, nil
}

type huntFlags struct {
	inputFlags
	output      string
	minSeverity string
	failOn      string
	quiet       bool
	summary     bool
}

func newHuntCmd(s Streams) *cobra.Command {
	var f huntFlags
	cmd := &cobra.Command{
		Use:   "hunt PATH...",
		Short: "Hunt for knocks in log files, folders and captures you already have",
		Long: `hunt reads files, folders (recursively), .gz files and "-" (stdin), sniffs the format
of each, merges them in time order and reports knock sequences, SPA, magic packets,
knock daemons and knock clients.

Findings go to stdout: a table on a terminal, JSON lines otherwise (or with
--output json). A progress bar and a summary go to stderr on a terminal.

Exit status: 0 when the hunt ran, 1 when --fail-on matched a finding, 2 on usage,
configuration or I/O errors.`,
		Example: `  knockwatch hunt /var/log/kern.log
  knockwatch hunt --tz UTC --year 2026 --output json demo/ > findings.jsonl
  knockwatch hunt --fail-on high --min-severity medium /var/log/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHunt(cmd.Context(), s, &f, args)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "auto", "output: auto (table on a terminal, else json), json or table")
	fl.StringVar(&f.minSeverity, "min-severity", "info", "report findings at or above this severity (info, low, medium, high, critical)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit with status 1 if a finding at or above this severity is reported")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar and no summary")
	fl.BoolVar(&f.summary, "summary", false, "print the summary to stderr even when it is not a terminal")
	return cmd
}

func isTerminal(w io.Writer, override *bool) bool {
	if override != nil {
		return *override
	}
	if f, ok := w.(*os.File); ok {
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}

func runHunt(ctx context.Context, s Streams, f *huntFlags, paths []string) error {
	opts, err := f.options(paths)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	minSev, err := alert.ParseSeverity(f.minSeverity)
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("--min-severity: %w", err)}
	}
	var failOn alert.Severity
	if f.failOn != "" {
		if failOn, err = alert.ParseSeverity(f.failOn); err != nil {
			return &exitError{code: ExitError, err: fmt.Errorf("--fail-on: %w", err)}
		}
	}
	outTerm := isTerminal(s.Out, s.OutTerminal)
	errTerm := isTerminal(s.Err, s.ErrTerminal)
	var out sink.Sink
	switch f.output {
	case "auto":
		if outTerm {
			out = sink.NewTable(s.Out)
		} else {
			out = sink.NewJSONLines(s.Out)
		}
	case "json":
		out = sink.NewJSONLines(s.Out)
	case "table":
		out = sink.NewTable(s.Out)
	default:
		return &exitError{code: ExitError, err: fmt.Errorf("--output %q: want auto, json or table", f.output)}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	applyMemoryLimit(opts.Config)
	st := stats.New()
	opts.Stats = st
	opts.Stdin = s.In
	var bar *progress
	if errTerm && !f.quiet {
		bar = startProgress(s.Err, st, totalSize(paths))
	}
	start := time.Now()
	res, err := hunt.Run(ctx, opts)
	if bar != nil {
		bar.stop()
	}
	if err != nil && res == nil {
		return &exitError{code: ExitError, err: err}
	}
	found := false
	var shown []*alert.Alert
	for _, a := range res.Alerts {
		if a.Severity < minSev {
			continue
		}
		shown = append(shown, a)
		if failOn != 0 && a.Severity >= failOn {
			found = true
		}
		if werr := out.Write(a); werr != nil {
			return &exitError{code: ExitError, err: werr}
		}
	}
	if cerr := out.Close(); cerr != nil {
		return &exitError{code: ExitError, err: cerr}
	}
	if (errTerm || f.summary) && !f.quiet {
		sum := sink.Summary{
			Files:       len(res.Files),
			Bytes:       st.Bytes.Load(),
			Records:     st.Records.Load(),
			Events:      st.Events.Load(),
			Elapsed:     time.Since(start),
			Formats:     st.Formats(),
			Errors:      st.Errors(),
			ErrorSample: st.ErrorSamples(),
			Skipped:     st.Skipped(),
			Alerts:      shown,
		}
		for _, e := range res.IOErrors {
			sum.IOErrors = append(sum.IOErrors, e.Error())
		}
		for _, ds := range res.State {
			sum.Sources += ds.Sources
			sum.Capacity += ds.Capacity
			sum.Evictions += ds.Evictions
		}
		sink.WriteSummary(s.Err, sum)
	}
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if len(res.IOErrors) > 0 {
		return &exitError{code: ExitError, err: errors.Join(res.IOErrors...)}
	}
	if found {
		return &exitError{code: ExitFound}
	}
	return nil
}

// applyMemoryLimit sets the runtime's soft memory limit from
// state.max_bytes, unless the operator set GOMEMLIMIT: near the limit the
// garbage collector works harder rather than letting the heap double.
func applyMemoryLimit(cfg config.Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(cfg.State.MaxBytes) * 9 / 10)
}

func totalSize(paths []string) int64 {
	files, err := source.Discover(paths)
	if err != nil {
		return -1
	}
	var n int64
	for _, f := range files {
		if f == source.Stdin {
			return -1
		}
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
