package cli

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/source"
)

// Version is set at build time with -ldflags "-X .../cli.Version=v1.2.3".
var Version = "dev"

func newVersionCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, kv := range bi.Settings {
					if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
						rev = " (" + kv.Value[:12] + ")"
					}
				}
			}
			fmt.Fprintf(s.Out, "knockwatch %s%s %s %s/%s\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func newFormatsCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "formats",
		Short: "List the input formats hunt can read",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := bufio.NewWriter(s.Out)
			defer w.Flush()
			for _, f := range decode.Formats() {
				fmt.Fprintf(w, "%-18s %s\n", f.Name, f.Summary)
			}
			fmt.Fprintf(w, "%-18s %s\n", "pcap", "pcap and pcapng packet captures (sniffed by their magic number)")
			return nil
		},
	}
}

func newExplainCmd(s Streams) *cobra.Command {
	var (
		f   inputFlags
		src string
	)
	cmd := &cobra.Command{
		Use:   "explain --src IP PATH...",
		Short: "Say why a source did or did not alert",
		Long: `explain runs the same hunt as "knockwatch hunt" over the same inputs and prints,
step by step, what the detectors saw from one source and what they decided: each
attempt, when its burst was judged, its scan- and retry-likeness and the alerts.`,
		Example: `  knockwatch explain --src 198.51.100.7 /var/log/kern.log`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := netip.ParseAddr(src)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("--src: %w", err)}
			}
			opts, err := f.options(args)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			applyMemoryLimit(opts.Config)
			tr := &detect.Trace{Src: addr.Unmap()}
			opts.Trace = tr
			opts.Stdin = s.In
			res, err := hunt.Run(cmd.Context(), opts)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			w := bufio.NewWriter(s.Out)
			defer w.Flush()
			lines := tr.Lines()
			fmt.Fprintf(w, "%s: %d step(s) recorded\n", addr, len(lines))
			for _, l := range lines {
				fmt.Fprintf(w, "  %s\n", l)
			}
			n := 0
			for _, a := range res.Alerts {
				if a.Src != tr.Src {
					continue
				}
				if n == 0 {
					fmt.Fprintln(w, "findings:")
				}
				n++
				fmt.Fprintf(w, "  %s %s %s %s confidence %.2f: %s\n", a.ID, a.Time.UTC().Format("2006-01-02T15:04:05.000Z"), a.Severity, a.Detector, a.Confidence, a.Summary)
				for _, r := range a.Reasons {
					fmt.Fprintf(w, "      - %s\n", r)
				}
			}
			if n == 0 {
				fmt.Fprintln(w, "findings: none")
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&src, "src", "", "source address to explain (required)")
	_ = cmd.MarkFlagRequired("src")
	return cmd
}

func newConfigCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a configuration or import knockd sequences",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and print every error with its line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.CheckFile(args[0], formatExists); err != nil {
				return printProblems(s, args[0], err)
			}
			fmt.Fprintf(s.Out, "%s: ok\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "import-knockd FILE",
		Short: "Turn a knockd.conf into authorized sequences (YAML on stdout)",
		Long: `import-knockd reads a knockd.conf and prints its doors as authorized_sequences,
ready to paste into a knockwatch configuration. Knocks that match them are
reported as authorized (low severity); unknown sequences stay suspicious.`,
		Example: `  knockwatch config import-knockd /etc/knockd.conf >> knockwatch.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fh, err := os.Open(args[0])
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			defer fh.Close()
			doors, err := config.ParseKnockd(fh)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			auth, notes := config.AuthorizedFromKnockd(doors)
			out, err := config.AuthorizedYAML(auth)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			fmt.Fprintf(s.Out, "# imported from %s\n", args[0])
			for _, n := range notes {
				fmt.Fprintf(s.Out, "# note: %s\n", n)
			}
			_, err = s.Out.Write(out)
			return err
		},
	})
	return cmd
}

// packetOpener returns the capture opener built into this binary, if any.
var packetOpener func() source.PacketOpener = builtinPacketOpener
