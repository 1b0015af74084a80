package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/watch"
)

// formatExists checks an input format name against the decoder registry
// (config does not import the decoders).
func formatExists(name string) error {
	_, err := decode.Lookup(name)
	return err
}

// printProblems prints every problem of a configuration file on its own
// line, "FILE: line N: message", and returns the exit error.
func printProblems(s Streams, path string, err error) error {
	var pe *config.ProblemsError
	if errors.As(err, &pe) {
		for _, p := range pe.Problems {
			fmt.Fprintf(s.Err, "%s: %s\n", path, p)
		}
		return &exitError{code: ExitError}
	}
	return &exitError{code: ExitError, err: err}
}

func newWatchCmd(s Streams) *cobra.Command {
	var (
		configPath string
		logLevel   string
		logFormat  string
	)
	cmd := &cobra.Command{
		Use:   "watch --config FILE",
		Short: "Run the sensor: follow logs across rotation, listen for syslog, read the journal, capture packets",
		Long: `watch runs the detectors of "knockwatch hunt" continuously over live inputs:
files followed across rotation (rename and copytruncate), a syslog listener (UDP
and TCP, RFC 3164 and RFC 5424, octet-counted or LF-framed), the journal through
journalctl, and packets on an interface (AF_PACKET). Alerts go to the sinks of the
configuration (JSON lines, syslog/CEF, webhook) with retries and a disk spool.

The "watch:" section of the configuration says what to read and where to send
findings (see examples/watch.yaml); the rest of the file tunes the detectors as
for a hunt. "knockwatch config check FILE" validates it.

Signals: SIGHUP reloads thresholds, allowlists, authorized sequences and rules
without losing state; SIGTERM (or Ctrl-C) drains: inputs stop, what was read is
processed, alerts are delivered or spooled, read positions are saved. A restart,
even after kill -9, resumes from the saved positions: nothing is skipped, and an
alert that was already sent is not sent again (ids are deterministic; see the
README for the exact guarantee).

Logs (log/slog) go to stderr; metrics, /healthz and /readyz are served on
watch.metrics_listen (127.0.0.1:9750 by default).`,
		Example: `  knockwatch config check /etc/knockwatch/knockwatch.yaml
  knockwatch watch --config /etc/knockwatch/knockwatch.yaml
  systemctl reload knockwatch   # SIGHUP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWatch(cmd.Context(), s, configPath, logLevel, logFormat)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&configPath, "config", "c", "", "YAML configuration with a watch: section (required)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runWatch(ctx context.Context, s Streams, path, level, format string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("--log-level: %w", err)}
	}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: lvl})
	case "json":
		h = slog.NewJSONHandler(s.Err, &slog.HandlerOptions{Level: lvl})
	default:
		return &exitError{code: ExitError, err: fmt.Errorf("--log-format %q: want text or json", format)}
	}
	log := slog.New(h)
	cfg, err := config.CheckFile(path, formatExists)
	if err != nil {
		return printProblems(s, path, err)
	}
	if cfg.Watch == nil {
		return &exitError{code: ExitError, err: fmt.Errorf("%s: no watch: section (see examples/watch.yaml)", path)}
	}
	applyMemoryLimit(cfg)
	sensor, err := watch.New(watch.Options{Config: cfg, Logger: log, Stdout: s.Out, Version: Version})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration", "path", path)
				cfg, err := config.CheckFile(path, formatExists)
				if err != nil {
					log.Error("reload refused: the configuration has errors; keeping the one in use", "err", err)
					continue
				}
				if err := sensor.Reload(cfg); err != nil {
					log.Error("reload failed", "err", err)
				}
			}
		}
	}()
	if err := sensor.Run(ctx); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	return nil
}
