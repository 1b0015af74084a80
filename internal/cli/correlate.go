package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/correlate"
	"github.com/knockwatch/knockwatch/internal/kafka"
	"github.com/knockwatch/knockwatch/internal/report"
	"github.com/knockwatch/knockwatch/internal/sink"
)

// correlateFlags are knockwatch correlate's flags.
type correlateFlags struct {
	kafkaFlags
	output, minSeverity     string
	window                  time.Duration
	from, to, group         string
	startAt                 string
	lateness                time.Duration
	maxAlerts               int
	metricsListen, logLevel string
}

func newCorrelateCmd(s Streams) *cobra.Command {
	var f correlateFlags
	cmd := &cobra.Command{
		Use:   "correlate [FILE...] | correlate --brokers HOST:PORT --from TOPIC --to TOPIC",
		Short: "Join alerts written apart (several hunts, a Kafka consumer group) into incidents",
		Long: `correlate joins the branches of one knock into an incident when they were found apart:
the client run in the audit log of host A, the knock in host B's firewall log, knockd's
OPEN SESAME on B. A hunt over all of that evidence at once does this itself; correlate is
for evidence that was hunted, or watched, in different places.

With files (JSON lines of "knockwatch hunt -o json" or "knockwatch watch"; "-" or no
file reads stdin) it takes the members out of the incidents it is given, drops repeated
ids, and folds everything again as one hunt over all of it would: the incidents, then
the alerts no incident took, as hunt prints them.

With --brokers it reads the alerts topic that the kafka sinks of a "knockwatch watch"
consumer group write (each instance owns some sources, so none sees a whole knock) and
produces each incident, keyed by source, to the --to topic once no later alert can join
it. Alerts are put back in time order across partitions (--lateness); while the topic
is idle, event time moves on with the clock. Offsets are committed only once the alerts
they cover can join nothing still to come and the incidents are acknowledged: after a
crash the incidents since are produced again with the same ids (at least once). Run one
instance per alerts topic; a second one in the same group stands by. See
docs/deploy-kafka.md.`,
		Example: `  knockwatch hunt --tz UTC -o json ws07-logs/ > ws07.jsonl
  knockwatch hunt --tz UTC -o json gw01-logs/ > gw01.jsonl
  knockwatch correlate ws07.jsonl gw01.jsonl
  knockwatch correlate --brokers kafka1:9092 --from knockwatch-alerts --to knockwatch-incidents`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.brokers != "" {
				if len(args) > 0 {
					return &exitError{code: ExitError, err: fmt.Errorf("correlate: files and --brokers exclude each other")}
				}
				return runCorrelateKafka(cmd.Context(), s, f)
			}
			return runCorrelateFiles(s, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "auto", "files: output auto (table on a terminal, else json), json or table")
	fl.StringVar(&f.minSeverity, "min-severity", "info", "files: show findings of at least this severity")
	fl.DurationVar(&f.window, "window", 2*time.Minute, "how far apart two alerts of one knock may be")
	f.kafkaFlags.register(fl, "knockwatch-correlate")
	fl.StringVar(&f.from, "from", "", "kafka: the alerts topic to read")
	fl.StringVar(&f.to, "to", "", "kafka: the topic incidents go to")
	fl.StringVar(&f.group, "group", "knockwatch-correlate", "kafka: consumer group of the correlator")
	fl.StringVar(&f.startAt, "start-at", "end", "kafka: where a partition without a committed offset starts: end or beginning")
	fl.DurationVar(&f.lateness, "lateness", time.Minute, "kafka: how far out of time order alerts arrive across partitions")
	fl.IntVar(&f.maxAlerts, "max-alerts", correlate.DefaultStreamCap, "kafka: most alerts the correlation window holds")
	fl.StringVar(&f.metricsListen, "metrics-listen", "off", "kafka: address serving Prometheus /metrics (e.g. 127.0.0.1:9752), or off")
	fl.StringVar(&f.logLevel, "log-level", "info", "kafka: log level: debug, info, warn or error")
	return cmd
}

func runCorrelateFiles(s Streams, f correlateFlags, paths []string) error {
	minSev, err := alert.ParseSeverity(f.minSeverity)
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("--min-severity: %w", err)}
	}
	var out sink.Sink
	switch f.output {
	case "auto":
		if isTerminal(s.Out, s.OutTerminal) {
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
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	var rd report.Reader
	for _, p := range paths {
		if err := readFindings(&rd, s, p); err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	bad := 0
	for _, in := range rd.Inputs {
		bad += in.Bad
	}
	for _, e := range rd.Errors {
		fmt.Fprintf(s.Err, "knockwatch correlate: skipped %v\n", e)
	}
	merged, st := correlate.Merge(rd.Alerts(), correlate.Options{Window: f.window})
	incidents := 0
	for _, a := range merged {
		if a.Kind == "incident" {
			incidents++
		}
		if a.Severity < minSev {
			continue
		}
		if err := out.Write(a); err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	if err := out.Close(); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	fmt.Fprintf(s.Err, "knockwatch correlate: %d alerts from %d input(s) (%d repeated ids, %d with other content, %d bad lines, %d incidents taken apart) -> %d incidents, %d findings\n",
		st.Alerts, len(rd.Inputs), st.Duplicates, st.Conflicts, bad, st.Unfolded, incidents, len(merged))
	return nil
}

// readFindings reads one file of JSON lines ("-": stdin) into rd.
func readFindings(rd *report.Reader, s Streams, path string) error {
	if path == "-" {
		return rd.Read(s.In, "stdin")
	}
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return rd.Read(fh, path)
}

func runCorrelateKafka(ctx context.Context, s Streams, f correlateFlags) error {
	log, conn, err := kafkaSetup("correlate", s, f.kafkaFlags, f.logLevel, f.from, f.to, f.startAt)
	if err != nil {
		return err
	}
	c, err := kafka.NewCorrelator(kafka.CorrelatorOptions{
		Conn: conn, From: f.from, To: f.to, Group: f.group, StartAt: f.startAt,
		Window: f.window, Lateness: f.lateness, MaxAlerts: f.maxAlerts, Logger: log,
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	log.Info("correlating", "from", f.from, "to", f.to, "group", f.group, "window", f.window)
	if err := runService(ctx, "correlate", f.metricsListen, log, c.Collector(), c.Run); err != nil {
		return err
	}
	st := c.Stats()
	log.Info("stopped", "alerts", st.Alerts, "duplicates", st.Duplicates, "conflicts", st.Conflicts, "bad", st.Bad,
		"late", st.Late, "incidents", st.Incidents, "produced", st.Produced)
	return nil
}
