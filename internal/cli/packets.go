package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// builtinPacketOpener reads pcap and pcapng files, keeping the payloads the
// built-in magic rules and the SPA detector look at.
func builtinPacketOpener() source.PacketOpener { return captureOpener(nil) }

// packetOpenerFor is the capture opener for a rule set loaded with --rules
// (nil: the built-in rules).
func packetOpenerFor(rs *rules.Set) source.PacketOpener {
	if rs == nil {
		return packetOpener()
	}
	return captureOpener(rs)
}

func captureOpener(rs *rules.Set) source.PacketOpener {
	return source.NewCaptureOpener(source.CaptureOptions{Interest: interestOf(rs)})
}

func interestOf(rs *rules.Set) *packet.Interest {
	if rs == nil {
		var err error
		if rs, err = rules.Builtin(); err != nil {
			return packet.NewInterest(rules.Prefilter{}, true)
		}
	}
	return packet.NewInterest(rs.Prefilter(), true)
}

// loadRules returns the built-in rules extended by the --rules files, or nil
// (the built-in set) when none is given.
func loadRules(paths []string) (*rules.Set, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	return rules.Load(paths, os.ReadFile)
}

func newRulesCmd(s Streams) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List or check the magic-packet rules",
		Long: `rules lists the magic-packet rules the "magic" detector applies: the built-in
set (rules/magic.yaml) extended or replaced by --rules files. A file that does not
load is reported with the rule, its line and the field at fault.`,
		Example: `  knockwatch rules
  knockwatch rules --rules site-rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := loadRules(files)
			if err == nil && rs == nil {
				rs, err = rules.Builtin()
			}
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			for _, r := range rs.Rules {
				fmt.Fprintf(s.Out, "%-22s %-9s %-8s %s\n", r.Name, r.Technique, r.Severity, r.Summary)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&files, "rules", nil, "magic-packet rule file extending or replacing the built-in rules (repeatable)")
	return cmd
}

type captureFlags struct {
	iface         string
	duration      time.Duration
	bpfArg        string
	outgoing      string
	promisc       bool
	ringMB        int
	answerTimeout time.Duration
	configPath    string
	rules         []string
	shards        int
	output        string
	minSeverity   string
}

func newCaptureCmd(s Streams) *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture -i INTERFACE",
		Short: "Run the detectors over live packets on an interface (AF_PACKET)",
		Long: `capture reads packets from a network interface through an AF_PACKET ring
(TPACKET_V3; Linux, root or CAP_NET_RAW) and runs the same detectors as hunt:
knock sequences, SPA, magic packets. Findings are printed as they happen; at the
end (--duration, or Ctrl-C) a summary gives the kernel's drop counters.

--bpf takes a classic BPF program as tcpdump compiles it (there is no filter
compiler without cgo): tcpdump -y EN10MB -dd 'EXPR', inline or as @FILE.
The host's own outgoing packets are dropped on loopback, where each packet is
otherwise seen twice, and kept elsewhere (--outgoing).`,
		Example: `  knockwatch capture -i eth0 --duration 10m
  knockwatch capture -i eth0 --bpf "$(tcpdump -y EN10MB -dd 'not port 22')"
  knockwatch capture -i lo --output json --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCapture(cmd.Context(), s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.iface, "interface", "i", "", "interface to capture on (required)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (default: until interrupted)")
	fl.StringVar(&f.bpfArg, "bpf", "", "kernel filter: tcpdump -dd or -ddd output, or @FILE holding it")
	fl.StringVar(&f.outgoing, "outgoing", "auto", "the host's own outgoing packets: auto (drop on loopback only), keep or drop")
	fl.BoolVar(&f.promisc, "promisc", false, "put the interface in promiscuous mode")
	fl.IntVar(&f.ringMB, "ring-mb", 32, "capture ring size in MiB")
	fl.DurationVar(&f.answerTimeout, "answer-timeout", packet.DefaultAnswerTimeout, "how long an attempt waits for its answer (RST, SYN-ACK, ICMP) before it counts as unanswered")
	fl.StringVarP(&f.configPath, "config", "c", "", "YAML configuration: thresholds, allowlists, authorized sequences")
	fl.StringArrayVar(&f.rules, "rules", nil, "magic-packet rule file extending or replacing the built-in rules (repeatable)")
	fl.IntVar(&f.shards, "shards", 0, "detector shards (default: number of CPUs)")
	fl.StringVarP(&f.output, "output", "o", "auto", "output: auto (text on a terminal, else json), json or text")
	fl.StringVar(&f.minSeverity, "min-severity", "info", "report findings at or above this severity")
	_ = cmd.MarkFlagRequired("interface")
	return cmd
}

func runCapture(ctx context.Context, s Streams, f *captureFlags) error {
	fail := func(err error) error { return &exitError{code: ExitError, err: err} }
	cfg := config.Default()
	if f.configPath != "" {
		var err error
		if cfg, err = config.Load(f.configPath); err != nil {
			return fail(err)
		}
	}
	rs, err := loadRules(f.rules)
	if err != nil {
		return fail(err)
	}
	cfg.Rules = rs
	minSev, err := alert.ParseSeverity(f.minSeverity)
	if err != nil {
		return fail(fmt.Errorf("--min-severity: %w", err))
	}
	out, err := parseOutgoingFlag(f.outgoing)
	if err != nil {
		return fail(err)
	}
	opts := source.LiveOptions{
		Interface:   f.iface,
		Outgoing:    out,
		Promiscuous: f.promisc,
		RingMB:      f.ringMB,
		Capture:     source.CaptureOptions{Interest: interestOf(rs), AnswerTimeout: f.answerTimeout},
	}
	if f.bpfArg != "" {
		text := f.bpfArg
		if strings.HasPrefix(text, "@") {
			b, err := os.ReadFile(text[1:])
			if err != nil {
				return fail(fmt.Errorf("--bpf: %w", err))
			}
			text = string(b)
		}
		if opts.BPF, err = source.ParseBPF(text); err != nil {
			return fail(fmt.Errorf("--bpf: %w", err))
		}
	}
	json := f.output == "json" || (f.output == "auto" && !isTerminal(s.Out, s.OutTerminal))
	if f.output != "auto" && f.output != "json" && f.output != "text" {
		return fail(fmt.Errorf("--output %q: want auto, json or text", f.output))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	inputs := source.NewInputs()
	st := stats.New()
	opts.Input = inputs.Add(f.iface, true)
	opts.Stats = st
	live, err := source.NewLiveCapture(ctx, opts)
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	var werr error
	found := 0
	emit := func(a *alert.Alert) {
		if a.Severity < minSev {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		found++
		if json {
			b, err := a.Encode()
			if err == nil {
				_, err = s.Out.Write(b)
			}
			if err != nil && werr == nil {
				werr = err
			}
			return
		}
		fmt.Fprintf(s.Out, "%s %-8s %-8s %s\n", a.Time.UTC().Format("15:04:05.000"), a.Severity, a.Detector, a.Summary)
	}
	eng := engine.New(cfg, engine.Options{Shards: f.shards, Origins: inputs, Alerts: emit})
	eng.RunStreams(ctx, []source.Stream{live}, func(err error) {
		mu.Lock()
		if werr == nil {
			werr = err
		}
		mu.Unlock()
	})
	eng.Close()
	writeCaptureSummary(s.Err, f.iface, live.Stats(), st, found)
	if werr != nil {
		return fail(werr)
	}
	return nil
}

// parseOutgoingFlag reads --outgoing.
func parseOutgoingFlag(v string) (source.Outgoing, error) {
	o, err := source.ParseOutgoing(v)
	if err != nil {
		return 0, fmt.Errorf("--outgoing: %w", err)
	}
	return o, nil
}

func writeCaptureSummary(w io.Writer, iface string, ls source.LiveStats, st *stats.Run, found int) {
	d := ls.Decoder
	fmt.Fprintf(w, "%s: %d packets captured, %d dropped by the kernel (%d ring freezes); %d events, %d finding(s)\n",
		iface, ls.Packets, ls.Drops, ls.Freezes, d.Events, found)
	fmt.Fprintf(w, "%s: flow table %d/%d, %d evicted, %d attempts settled early; %d frames not decoded %v\n",
		iface, d.Flows, d.FlowCap, d.FlowEvictions, d.Forced, d.Errors, st.Errors())
}
