package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/report"
)

type reportFlags struct {
	out         string
	format      string
	title       string
	tz          string
	minSeverity string
}

func newReportCmd(s Streams) *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report [FILE...]",
		Short: "Turn findings (JSON lines) into an HTML report with timelines, or Markdown for a ticket",
		Long: `report reads findings as JSON lines, as "knockwatch hunt -o json" and "knockwatch watch"
write them (files, or stdin when no file or "-" is given), and writes one report:

  html  one self-contained page that works offline: a summary (findings by detector
        and severity, top sources and targets), then each incident and each alert no
        incident took, with its timeline drawn (knock ports at their offsets coloured by
        protocol; the client run, the daemon's actions and the connection that followed
        on lanes of their own), the reasons for its confidence and its evidence. Sort
        and filter in the page; the view is kept in the address (#sort=...&sev=...).
  md    the same as Markdown for a ticket, each timeline as text.

Alerts a sensor delivered twice are shown once, an alert superseded by a later one
for the same knock gives way to it, and an incident's members are shown inside it.
Lines that are not findings are counted and skipped (the first few are named).`,
		Example: `  knockwatch hunt -o json /var/log/ > findings.jsonl
  knockwatch report -o report.html findings.jsonl
  knockwatch hunt -o json --min-severity medium logs/ | knockwatch report --format md > ticket.md`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(s, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "out", "o", "-", "write the report to this file (- for stdout)")
	fl.StringVar(&f.format, "format", "html", "report format: html or md")
	fl.StringVar(&f.title, "title", "", `report title (default "knockwatch report")`)
	fl.StringVar(&f.tz, "tz", "UTC", "time zone to show times in (IANA name, e.g. UTC or Europe/Berlin)")
	fl.StringVar(&f.minSeverity, "min-severity", "info", "leave out findings below this severity (info, low, medium, high, critical)")
	return cmd
}

func runReport(s Streams, f *reportFlags, paths []string) error {
	var write func(io.Writer, *report.Report) error
	switch f.format {
	case "html":
		write = report.WriteHTML
	case "md", "markdown":
		write = report.WriteMarkdown
	default:
		return &exitError{code: ExitError, err: fmt.Errorf("--format %q: want html or md", f.format)}
	}
	loc, err := time.LoadLocation(f.tz)
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("--tz %q: %w", f.tz, err)}
	}
	minSev, err := alert.ParseSeverity(f.minSeverity)
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("--min-severity: %w", err)}
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
	for _, e := range rd.Errors {
		fmt.Fprintf(s.Err, "knockwatch report: skipped %v\n", e)
	}
	rep := report.Build(&rd, report.Options{Title: f.title, Location: loc, MinSeverity: minSev})
	if f.out == "-" || f.out == "" {
		if err := write(s.Out, rep); err != nil {
			return &exitError{code: ExitError, err: err}
		}
		return nil
	}
	// Write beside the target and rename, so a reader never sees half a
	// report and a failed run leaves the old one in place.
	tmp, err := os.CreateTemp(filepath.Dir(f.out), "."+filepath.Base(f.out)+".*")
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	werr := write(tmp, rep)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return &exitError{code: ExitError, err: err}
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return &exitError{code: ExitError, err: err}
	}
	if err := os.Rename(tmp.Name(), f.out); err != nil {
		os.Remove(tmp.Name())
		return &exitError{code: ExitError, err: err}
	}
	bad := 0
	for _, in := range rep.Inputs {
		bad += in.Bad
	}
	fmt.Fprintf(s.Err, "%s: %d finding(s)", f.out, len(rep.Findings))
	if bad > 0 {
		fmt.Fprintf(s.Err, ", %d unreadable line(s) skipped", bad)
	}
	fmt.Fprintln(s.Err)
	return nil
}
