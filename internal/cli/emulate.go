package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/emulate"
	"github.com/knockwatch/knockwatch/internal/rules"
)

// emulateFlags are shared by the emulate subcommands.
type emulateFlags struct {
	target string
	dryRun bool
}

func (f *emulateFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "host to send to: an address or name you own (default 127.0.0.1)")
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "print every packet that would be sent, send nothing")
}

func newEmulateCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Send harmless knock, SPA and scan traffic to prove a detection pipeline",
		Long: `emulate sends the traffic of a technique knockwatch detects, harmlessly, so you
can prove end to end that your firewall logs, captures and knockwatch see it
(an atomic test). Only send to hosts you own.

Safe by default: packets go to 127.0.0.1 unless --target is given; one run
sends at most ` + fmt.Sprint(emulate.MaxPackets) + ` packets, at most ` + fmt.Sprint(emulate.MaxRate) + ` per second; --dry-run prints every
packet and sends nothing. Knock and scan probes are a single SYN (connect, then
close at once, as the knock client does); nothing is ever sent after a
handshake. magic crafts the one packet a rule describes (raw socket, root).`,
		Example: `  knockwatch emulate knock --target 203.0.113.10 --ports 7000,8000,9000/udp --delay 500ms
  knockwatch emulate spa --target 203.0.113.10
  knockwatch emulate magic --rule bpfdoor-udp --target 203.0.113.10
  knockwatch emulate scan --target 203.0.113.10 --ports 1-100 --dry-run`,
	}
	cmd.AddCommand(newEmulateKnockCmd(s), newEmulateSPACmd(s), newEmulateMagicCmd(s), newEmulateScanCmd(s))
	return cmd
}

func newEmulateKnockCmd(s Streams) *cobra.Command {
	var (
		f     emulateFlags
		ports string
		delay time.Duration
	)
	cmd := &cobra.Command{
		Use:   "knock",
		Short: "Send a knock sequence shaped like the knock client's",
		Long: `knock sends one SYN per TCP port (from a new source port each time, no
retransmission) and one datagram holding a single NUL byte per UDP port, in the
order given, like the knock client (knockd's companion).`,
		Example: `  knockwatch emulate knock --target 203.0.113.10 --ports 7000,8000,9000/udp --delay 500ms`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			probes, err := emulate.ParsePorts(ports)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("--ports: %w", err)}
			}
			if len(probes) > 32 {
				return &exitError{code: ExitError, err: fmt.Errorf("--ports: %d ports; a knock has at most 32", len(probes))}
			}
			if delay < 0 || delay > time.Minute {
				return &exitError{code: ExitError, err: fmt.Errorf("--delay %s: want 0..1m", delay)}
			}
			return runEmulate(cmd.Context(), s, &f, func(t netip.Addr) (*emulate.Plan, error) {
				return emulate.Knock(t, probes, delay), nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&ports, "ports", "7000,8000,9000", "sequence: PORT[/tcp|/udp],... (knockd's PORT:udp works too)")
	cmd.Flags().DurationVar(&delay, "delay", 0, "pause between hits (at least 1ms)")
	return cmd
}

func newEmulateSPACmd(s Streams) *cobra.Command {
	var (
		f    emulateFlags
		port uint16
	)
	cmd := &cobra.Command{
		Use:   "spa",
		Short: "Send one datagram shaped like an fwknop SPA packet (random bytes, no key material)",
		Long: `spa sends one UDP datagram with the shape of an fwknop single-packet
authorization packet: 225 characters of unpadded base64 whose first character
is one of 8 9 + / (Rijndael mode) and whose length fits a 128-byte ciphertext
plus an HMAC-SHA256. Every byte behind the base64 is random: no key is used and
no server can accept it.`,
		Example: `  knockwatch emulate spa --target 203.0.113.10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port == 0 {
				return &exitError{code: ExitError, err: fmt.Errorf("--port: want 1-65535")}
			}
			return runEmulate(cmd.Context(), s, &f, func(t netip.Addr) (*emulate.Plan, error) {
				return emulate.SPA(t, port)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().Uint16Var(&port, "port", emulate.DefaultSPAPort, "UDP port (fwknopd's default is 62201)")
	return cmd
}

func newEmulateMagicCmd(s Streams) *cobra.Command {
	var (
		f         emulateFlags
		name      string
		ruleFiles []string
		port      uint16
		list      bool
	)
	cmd := &cobra.Command{
		Use:   "magic --rule NAME",
		Short: "Send a packet that matches a magic-packet rule, with a harmless payload",
		Long: `magic crafts the packet a magic-packet rule describes (the built-in rules, or
yours with --rules) and sends it through a raw socket (root): the header values
the rule keys on (TCP flags, IP ID, window, ports, ICMP type, code and echo
fields, the sequence/acknowledgment gap) and a payload that passes its checks.
Everything the rule does not fix is harmless: zero addresses and ports where a
backdoor would read a connect-back target, printable filler text, documentation
MAC addresses. The packet is checked against the rule before it is sent. A rule
with a port sequence sends one packet per port, in order, 100 ms apart.`,
		Example: `  knockwatch emulate magic --list
  knockwatch emulate magic --rule reptile-icmp --target 203.0.113.10 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := rules.Load(ruleFiles, os.ReadFile)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if list {
				for _, r := range set.Rules {
					fmt.Fprintf(s.Out, "%-22s %-9s %-8s %s\n", r.Name, r.Technique, r.Severity, r.Summary)
				}
				return nil
			}
			if name == "" {
				return &exitError{code: ExitError, err: fmt.Errorf("--rule is required (see --list)")}
			}
			r := set.Lookup(name)
			if r == nil {
				return &exitError{code: ExitError, err: fmt.Errorf("--rule %q: no such rule (see --list)", name)}
			}
			return runEmulate(cmd.Context(), s, &f, func(t netip.Addr) (*emulate.Plan, error) {
				return emulate.Magic(r, t, port)
			})
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "rule", "", "name of the rule to match")
	fl.StringArrayVar(&ruleFiles, "rules", nil, "extra rule file (may repeat), as for hunt")
	fl.Uint16Var(&port, "port", 0, "destination port when the rule fixes none (default 9, discard)")
	fl.BoolVar(&list, "list", false, "list the rules and exit")
	return cmd
}

func newEmulateScanCmd(s Streams) *cobra.Command {
	var (
		f     emulateFlags
		ports string
		rate  int
	)
	cmd := &cobra.Command{
		Use:     "scan",
		Short:   "Send one SYN to each port of a range, in order (a small port scan)",
		Example: `  knockwatch emulate scan --target 203.0.113.10 --ports 1-100 --rate 200`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := emulate.ParseRange(ports)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("--ports: %w", err)}
			}
			return runEmulate(cmd.Context(), s, &f, func(t netip.Addr) (*emulate.Plan, error) {
				return emulate.Scan(t, list, rate)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&ports, "ports", "1-100", "ports: LOW-HIGH and/or a list (at most "+fmt.Sprint(emulate.MaxPackets)+")")
	cmd.Flags().IntVar(&rate, "rate", 100, "packets per second (at most "+fmt.Sprint(emulate.MaxRate)+")")
	return cmd
}

// runEmulate resolves the target, builds the plan and sends it (or, with
// --dry-run, prints it).
func runEmulate(ctx context.Context, s Streams, f *emulateFlags, build func(netip.Addr) (*emulate.Plan, error)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	target, err := emulate.Resolve(ctx, f.target)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	plan, err := build(target)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if err := plan.Validate(); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if f.dryRun {
		return plan.Describe(s.Out)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := 0
	err = emulate.Send(ctx, plan, func(r emulate.Sent) {
		status := "sent"
		if r.Err != nil {
			status = "failed: " + r.Err.Error()
			failed++
		}
		fmt.Fprintf(s.Out, "%s %s %s:%d %s\n", r.Time.UTC().Format("15:04:05.000000"), r.Probe.Proto, plan.Target, r.Probe.Port, status)
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if failed > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("%d of %d packet(s) could not be sent", failed, len(plan.Probes))}
	}
	return nil
}
