// Package sink delivers findings: JSON lines for machines, a table and a
// summary for people on a terminal, and (for the sensor) syslog/CEF,
// webhooks and Kafka.
package sink

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Sink receives findings.
type Sink interface {
	Write(*alert.Alert) error
	Close() error
}

// JSONLines writes one JSON object per line.
type JSONLines struct {
	w *bufio.Writer
}

// NewJSONLines writes to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: bufio.NewWriter(w)} }

// Write encodes one alert.
func (j *JSONLines) Write(a *alert.Alert) error {
	b, err := a.Encode()
	if err != nil {
		return err
	}
	_, err = j.w.Write(b)
	return err
}

// Close flushes.
func (j *JSONLines) Close() error { return j.w.Flush() }

// Table writes a readable table of findings.
type Table struct {
	w    io.Writer
	rows []*alert.Alert
}

// NewTable collects alerts and prints them on Close.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

// Write adds an alert.
func (t *Table) Write(a *alert.Alert) error {
	t.rows = append(t.rows, a)
	return nil
}

// Close prints the table. Alerts superseded by a later one for the same
// knock are folded into it.
func (t *Table) Close() error {
	superseded := map[string]bool{}
	for _, a := range t.rows {
		if a.Supersedes != "" {
			superseded[a.Supersedes] = true
		}
	}
	bw := bufio.NewWriter(t.w)
	fmt.Fprintf(bw, "%-23s %-8s %-9s %4s  %-39s %-39s %s\n", "TIME (UTC)", "SEVERITY", "DETECTOR", "CONF", "SOURCE", "TARGET", "WHAT")
	shown := 0
	for _, a := range t.rows {
		if superseded[a.ID] {
			continue
		}
		shown++
		dst := ""
		if a.Dst.IsValid() {
			dst = a.Dst.String()
		} else if a.Host != "" {
			dst = a.Host
		}
		src := ""
		if a.Src.IsValid() {
			src = a.Src.String()
		}
		what := a.Summary
		if len(a.Sequence) > 0 && a.Detector == "sequence" {
			what = "knock " + alert.SequenceString(a.Sequence)
			if a.FollowedBy != nil {
				what += fmt.Sprintf(" → connect %d/%s", a.FollowedBy.Port, a.FollowedBy.Proto)
			}
			if a.Authorized {
				what += " (authorized: " + a.AuthorizedAs + ")"
			}
		}
		fmt.Fprintf(bw, "%-23s %-8s %-9s %4.2f  %-39s %-39s %s\n", a.Time.UTC().Format("2006-01-02 15:04:05.000"), a.Severity, a.Detector, a.Confidence, src, dst, what)
	}
	if shown == 0 {
		fmt.Fprintln(bw, "(no findings)")
	}
	return bw.Flush()
}

// Summary is what a hunt reports at the end.
type Summary struct {
	Files       int
	Bytes       int64
	Records     int64
	Events      int64
	Elapsed     time.Duration
	Formats     map[string]int64
	Errors      map[string]int64
	ErrorSample []string
	Skipped     []string
	IOErrors    []string
	Alerts      []*alert.Alert
	Sources     int64
	Capacity    int64
	Evictions   uint64
}

// WriteSummary prints the summary for people.
func WriteSummary(w io.Writer, s Summary) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	rate := ""
	if s.Elapsed > 0 {
		rate = fmt.Sprintf(" (%.0f records/s, %.1f MB/s)", float64(s.Records)/s.Elapsed.Seconds(), float64(s.Bytes)/1e6/s.Elapsed.Seconds())
	}
	fmt.Fprintf(bw, "\nread %d input(s), %s, %d records, %d events in %s%s\n", s.Files, humanBytes(s.Bytes), s.Records, s.Events, s.Elapsed.Round(time.Millisecond), rate)
	if len(s.Formats) > 0 {
		fmt.Fprintf(bw, "formats: %s\n", joinCounts(s.Formats))
	}
	var nerr int64
	for _, n := range s.Errors {
		nerr += n
	}
	if nerr > 0 {
		fmt.Fprintf(bw, "decode errors: %d (%s)\n", nerr, joinCounts(s.Errors))
		for _, e := range s.ErrorSample {
			fmt.Fprintf(bw, "  %s\n", e)
		}
	} else {
		fmt.Fprintln(bw, "decode errors: 0")
	}
	for _, sk := range s.Skipped {
		fmt.Fprintf(bw, "skipped: %s\n", sk)
	}
	for _, e := range s.IOErrors {
		fmt.Fprintf(bw, "error: %s\n", e)
	}
	fmt.Fprintf(bw, "state: %d source(s) tracked at the end (cap %d), %d evicted\n", s.Sources, s.Capacity, s.Evictions)
	bySev := map[string]int64{}
	byDet := map[string]int64{}
	for _, a := range s.Alerts {
		bySev[a.Severity.String()]++
		byDet[a.Detector]++
	}
	if len(s.Alerts) == 0 {
		fmt.Fprintln(bw, "findings: none")
		return
	}
	var sev []string
	for i := alert.SeverityCritical; i >= alert.SeverityInfo; i-- {
		if n := bySev[i.String()]; n > 0 {
			sev = append(sev, fmt.Sprintf("%s %d", i, n))
		}
	}
	fmt.Fprintf(bw, "findings: %d (%s; by detector: %s)\n", len(s.Alerts), strings.Join(sev, ", "), joinCounts(byDet))
}

func joinCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
