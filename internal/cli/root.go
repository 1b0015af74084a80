// Package cli is knockwatch's command line: hunt, explain, config, formats,
// version (and, as they land, watch, emulate, report, route). main only
// calls Execute; tests build the same command tree with NewRoot.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK = 0
	// ExitFound: --fail-on matched a finding.
	ExitFound = 1
	// ExitError: usage, configuration or I/O error.
	ExitError = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Streams are the command's standard streams (tests replace them).
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// Terminal says whether Out and Err are terminals; nil asks the OS.
	OutTerminal, ErrTerminal *bool
}

// NewRoot builds the command tree.
func NewRoot(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "knockwatch",
		Short: "Detect port knocking, single-packet authorization and magic packets (MITRE ATT&CK T1205)",
		Long: `knockwatch finds traffic signaling (MITRE ATT&CK T1205, chiefly T1205.001 port
knocking): an ordered handful of attempts on closed ports from one source within
seconds, single-packet authorization (fwknop) and magic packets that wake a
backdoor. It reads the logs and captures you already have.

Hunt over files (logs, folders, .gz; the format of each file is sniffed):

  knockwatch hunt /var/log/kern.log /var/log/ufw.log
  knockwatch hunt --output json logs/ > findings.jsonl
  zcat kern.log.2.gz | knockwatch hunt -

Ask why a source did or did not alert:

  knockwatch explain --src 198.51.100.7 /var/log/kern.log

Tell knockwatch about your own knock sequences so they are reported as authorized:

  knockwatch config import-knockd /etc/knockd.conf >> knockwatch.yaml
  knockwatch hunt --config knockwatch.yaml /var/log/`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		newHuntCmd(s),
		newExplainCmd(s),
		newConfigCmd(s),
		newFormatsCmd(s),
		newVersionCmd(s),
		newCaptureCmd(s),
		newRulesCmd(s),
		newEmulateCmd(s),
		newWatchCmd(s),
		newReportCmd(s),
		newRouteCmd(s),
		newCorrelateCmd(s),
	)
	return root
}

// Execute runs the command line and returns the process exit code.
func Execute(args []string) int {
	s := Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	root := NewRoot(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(s.Err, "knockwatch: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(s.Err, "knockwatch: %v\n", err)
	return ExitError
}
