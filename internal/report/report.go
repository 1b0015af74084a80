// Package report turns knockwatch findings (the JSON lines "knockwatch hunt
// -o json" and "knockwatch watch" write) into a report a person reads: one
// self-contained HTML file, or Markdown for a ticket.
//
// The HTML works offline and from a file: CSS, script and drawings are
// inline (no fonts, images or scripts are fetched), and a Content Security
// Policy that allows only the page's own style and script (by hash) backs
// that up. Every alert field comes from logs an attacker can write to, so
// everything is rendered through html/template's contextual escaping, and
// control characters are made visible.
//
// What is shown: a summary (findings by detector and severity, top sources
// and targets), then one section per incident and per alert no incident
// took, with a timeline drawn as SVG (each knock port as a mark at its
// offset, coloured by protocol, and the client run, the daemon's actions
// and the connection that followed on lanes of their own, on an axis
// labelled for the span at hand, from microseconds to minutes), the
// reasons for its confidence and its evidence. A small inline script sorts
// and filters the sections; without it every section is shown.
//
// The output depends only on the input (and the options): no wall-clock
// time, map order or randomness, so it can be compared with a golden file.
package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Options shape a report.
type Options struct {
	// Title heads the report; empty gives "knockwatch report".
	Title string
	// Location is the time zone times are shown in; nil means UTC.
	Location *time.Location
	// MinSeverity drops findings below it (0 keeps all).
	MinSeverity alert.Severity
}

// MaxLine is the longest input line read (an incident carries its members,
// so lines can be long); longer lines are reported and skipped.
const MaxLine = 16 << 20

// LineError is an input line that could not be read.
type LineError struct {
	Input string
	Line  int
	Err   error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Input, e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Input is one file (or stdin) of findings.
type Input struct {
	Name  string
	Lines int
	// Alerts is how many findings it held.
	Alerts int
	// Bad counts the lines that could not be read; Errors holds the first
	// few of them.
	Bad int
}

// maxLineErrors caps the errors kept per input (all are counted).
const maxLineErrors = 5

// Reader collects findings from one or more inputs.
type Reader struct {
	Inputs []Input
	Errors []*LineError
	alerts []*alert.Alert
}

// Read reads JSON lines from r (named name in errors). A line that is not
// an alert is counted and skipped; reading goes on with the next. Only an
// I/O error stops it.
func (rd *Reader) Read(r io.Reader, name string) error {
	in := Input{Name: name}
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long) <= MaxLine {
				long = append(long, chunk...)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			rd.Inputs = append(rd.Inputs, in)
			return fmt.Errorf("%s: %w", name, err)
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(line) > 0 {
			in.Lines++
			rd.line(&in, line)
		}
		if err != nil {
			break
		}
	}
	rd.Inputs = append(rd.Inputs, in)
	return nil
}

func (rd *Reader) line(in *Input, line []byte) {
	fail := func(err error) {
		in.Bad++
		if in.Bad <= maxLineErrors {
			rd.Errors = append(rd.Errors, &LineError{Input: in.Name, Line: in.Lines, Err: err})
		}
	}
	if len(line) > MaxLine {
		fail(fmt.Errorf("line longer than %d MB", MaxLine>>20))
		return
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	var a alert.Alert
	if err := json.Unmarshal(line, &a); err != nil {
		fail(fmt.Errorf("not a knockwatch finding: %w", err))
		return
	}
	if a.ID == "" || a.Time.IsZero() {
		fail(errors.New("not a knockwatch finding: no id or time"))
		return
	}
	in.Alerts++
	rd.alerts = append(rd.alerts, &a)
}

// Alerts are the findings read so far, in input order.
func (rd *Reader) Alerts() []*alert.Alert { return rd.alerts }

// Report is what gets rendered.
type Report struct {
	Title    string
	Location *time.Location
	Inputs   []Input
	Errors   []*LineError
	// Findings are the incidents and the alerts no incident took, most
	// severe first, then by time.
	Findings []*alert.Alert
	// Dropped counts findings below the minimum severity.
	Dropped int
	// Folded counts input alerts shown inside another finding: members of
	// an incident, alerts superseded by a later one, repeated ids.
	Folded int
	// Members counts alerts inside incidents by detector.
	Members map[string]int
}

// Build folds what the inputs hold into findings: a repeated id keeps its
// last line (a sensor may deliver an alert again), an alert superseded by
// a later one for the same knock gives way to it, and an incident's
// members (which a sensor sends on their own before the incident) are
// shown inside the incident.
func Build(rd *Reader, opts Options) *Report {
	loc := cmp.Or(opts.Location, time.UTC)
	rep := &Report{
		Title:    cmp.Or(opts.Title, "knockwatch report"),
		Location: loc,
		Inputs:   rd.Inputs,
		Errors:   rd.Errors,
		Members:  map[string]int{},
	}
	last := map[string]int{}
	all := rd.Alerts()
	for i, a := range all {
		last[a.ID] = i
	}
	inside := map[string]bool{}
	for i, a := range all {
		if last[a.ID] != i {
			continue
		}
		if a.Supersedes != "" {
			inside[a.Supersedes] = true
		}
		if a.Kind == "incident" {
			for _, id := range a.Members {
				inside[id] = true
			}
			for _, m := range a.MemberAlerts {
				inside[m.ID] = true
				if m.Supersedes != "" {
					inside[m.Supersedes] = true
				}
				rep.Members[m.Detector]++
			}
		}
	}
	for i, a := range all {
		if last[a.ID] != i || (inside[a.ID] && a.Kind != "incident") {
			rep.Folded++
			continue
		}
		if a.Severity < opts.MinSeverity {
			rep.Dropped++
			continue
		}
		rep.Findings = append(rep.Findings, a)
	}
	slices.SortStableFunc(rep.Findings, func(a, b *alert.Alert) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	return rep
}

// span is the first and last time the findings cover.
func (r *Report) span() (time.Time, time.Time) {
	var lo, hi time.Time
	for _, f := range r.Findings {
		first := cmp.Or(f.FirstSeen, f.Time)
		if lo.IsZero() || first.Before(lo) {
			lo = first
		}
		if f.Time.After(hi) {
			hi = f.Time
		}
		if f.LastSeen.After(hi) {
			hi = f.LastSeen
		}
	}
	return lo, hi
}

// count is one row of a top-N table.
type count struct {
	Key      string
	N        int
	Severity alert.Severity
}

func topN(r *Report, key func(*alert.Alert) string, n int) []count {
	by := map[string]*count{}
	for _, f := range r.Findings {
		k := key(f)
		if k == "" {
			continue
		}
		c := by[k]
		if c == nil {
			c = &count{Key: k}
			by[k] = c
		}
		c.N++
		c.Severity = max(c.Severity, f.Severity)
	}
	out := make([]count, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(b.Severity, a.Severity), strings.Compare(a.Key, b.Key))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func srcOf(a *alert.Alert) string {
	if a.Src.IsValid() {
		return a.Src.String()
	}
	return ""
}

// targetOf names the host a finding is about: its destination address,
// with the logging host's name where it has one.
func targetOf(a *alert.Alert) string {
	switch {
	case a.Dst.IsValid() && a.Host != "" && a.Host != a.Dst.String():
		return a.Dst.String() + " (" + a.Host + ")"
	case a.Dst.IsValid():
		return a.Dst.String()
	}
	return a.Host
}

// severities lists the severity names, lowest first.
var severities = []alert.Severity{alert.SeverityInfo, alert.SeverityLow, alert.SeverityMedium, alert.SeverityHigh, alert.SeverityCritical}

// matrix counts findings by detector and severity; an incident counts as
// "incident".
type matrixRow struct {
	Detector string
	Counts   []int
	Total    int
}

func detectorOf(a *alert.Alert) string {
	if a.Kind == "incident" {
		return "incident"
	}
	return a.Detector
}

func matrix(r *Report) ([]matrixRow, matrixRow) {
	rows := map[string]*matrixRow{}
	total := matrixRow{Detector: "all", Counts: make([]int, len(severities))}
	for _, f := range r.Findings {
		d := detectorOf(f)
		row := rows[d]
		if row == nil {
			row = &matrixRow{Detector: d, Counts: make([]int, len(severities))}
			rows[d] = row
		}
		if i := int(f.Severity) - 1; i >= 0 && i < len(severities) {
			row.Counts[i]++
			total.Counts[i]++
		}
		row.Total++
		total.Total++
	}
	out := make([]matrixRow, 0, len(rows))
	for _, row := range rows {
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b matrixRow) int {
		return cmp.Or(cmp.Compare(detectorRank(a.Detector), detectorRank(b.Detector)), strings.Compare(a.Detector, b.Detector))
	})
	return out, total
}

// detectorRank orders detectors as the docs present them.
func detectorRank(d string) int {
	if i := slices.Index([]string{"incident", "sequence", "spa", "magic", "daemon", "process", "scan"}, d); i >= 0 {
		return i
	}
	return 100
}

// detectorsIn lists the detectors a finding involves (an incident's
// members' too), for filtering.
func detectorsIn(a *alert.Alert) []string {
	out := []string{detectorOf(a)}
	for _, m := range a.MemberAlerts {
		if !slices.Contains(out, m.Detector) {
			out = append(out, m.Detector)
		}
	}
	return out
}

// clean makes text from logs safe to show as text: control characters and
// invalid UTF-8 become visible escapes (a terminal escape sequence in a
// log line must not reach the terminal of someone who cats the Markdown),
// and line breaks become spaces.
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// C0/C1 controls, and the bidirectional overrides that make
			// text read differently from what it is.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
