package report

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

var (
	//go:embed assets/report.html.tmpl
	pageTemplate string
	//go:embed assets/report.css
	pageCSS string
	//go:embed assets/report.js
	pageJS string

	page = template.Must(template.New("report").Parse(pageTemplate))
)

// csp allows the page nothing but its own inline style and script, named
// by hash: no fetches of any kind, no other script (should escaping ever
// fail, injected markup still could not run or call out).
var csp = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; img-src data:; base-uri 'none'; form-action 'none'",
	hashSource(pageCSS), hashSource(pageJS))

func hashSource(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

type pageView struct {
	Title      string
	CSP        string
	CSS        template.CSS
	JS         template.JS
	Lead       string
	Zone       string
	Errors     []string
	BadLines   int
	Severities []string
	Matrix     []matrixView
	Total      matrixView
	Members    string
	TopSources []countView
	TopTargets []countView
	Detectors  []string
	Findings   []findingView
}

type matrixView struct {
	Detector string
	Cells    []string
	Total    int
}

type countView struct {
	Key      string
	N        int
	Severity string
}

type kv struct{ K, V string }

type stepView struct {
	Time, Lane, Text string
}

type memberView struct {
	ID, Detector, Severity, Confidence, Summary string
	Reasons, Evidence                           []string
	Attributes                                  []kv
}

type findingView struct {
	ID           string
	Incident     bool
	Kind         string
	KindLabel    string
	Detector     string
	Detectors    string
	Severity     string
	SevRank      int
	SortTime     string
	Time         string
	Span         string
	Confidence   string
	Summary      string
	Src          string
	Target       string
	Sequence     string
	FollowedBy   string
	Technique    string
	Authorized   bool
	AuthorizedAs string
	Supersedes   string
	Reasons      []string
	Attributes   []kv
	Members      []memberView
	SVG          svgView
	Steps        []stepView
	Evidence     []string
	EvidenceNote string
}

// WriteHTML renders the report as one self-contained HTML page.
func WriteHTML(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	if err := page.Execute(bw, buildPage(r)); err != nil {
		return fmt.Errorf("report: render HTML: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write HTML: %w", err)
	}
	return nil
}

func buildPage(r *Report) pageView {
	v := pageView{
		Title: clean(r.Title),
		CSP:   csp,
		CSS:   template.CSS(pageCSS),
		JS:    template.JS(pageJS),
		Lead:  lead(r),
		Zone:  zoneName(r.Location),
	}
	for _, e := range r.Errors {
		v.Errors = append(v.Errors, clean(e.Error()))
	}
	for _, in := range r.Inputs {
		v.BadLines += in.Bad
	}
	for _, s := range severities {
		v.Severities = append(v.Severities, s.String())
	}
	rows, total := matrix(r)
	for _, row := range rows {
		v.Matrix = append(v.Matrix, matrixCells(row))
	}
	v.Total = matrixCells(total)
	v.Members = membersLine(r)
	v.TopSources = countViews(topN(r, srcOf, 10))
	v.TopTargets = countViews(topN(r, targetOf, 10))
	dets := map[string]bool{}
	for _, f := range r.Findings {
		for _, d := range detectorsIn(f) {
			dets[d] = true
		}
	}
	v.Detectors = slices.SortedFunc(maps.Keys(dets), func(a, b string) int {
		return cmp.Or(cmp.Compare(detectorRank(a), detectorRank(b)), strings.Compare(a, b))
	})
	for _, f := range r.Findings {
		v.Findings = append(v.Findings, buildFinding(f, r.Location))
	}
	return v
}

func matrixCells(row matrixRow) matrixView {
	m := matrixView{Detector: clean(row.Detector), Total: row.Total}
	for _, c := range row.Counts {
		m.Cells = append(m.Cells, strconv.Itoa(c))
	}
	return m
}

func countViews(cs []count) []countView {
	out := make([]countView, len(cs))
	for i, c := range cs {
		out[i] = countView{Key: clean(c.Key), N: c.N, Severity: c.Severity.String()}
	}
	return out
}

// lead is the line under the title: what was read and what it covers.
func lead(r *Report) string {
	var b strings.Builder
	incidents := 0
	for _, f := range r.Findings {
		if f.Kind == "incident" {
			incidents++
		}
	}
	fmt.Fprintf(&b, "%d finding(s): %d incident(s) and %d alert(s)", len(r.Findings), incidents, len(r.Findings)-incidents)
	if lo, hi := r.span(); !lo.IsZero() {
		fmt.Fprintf(&b, ", from %s to %s", fmtTime(lo, r.Location), fmtTime(hi, r.Location))
	}
	var names []string
	lines := 0
	for _, in := range r.Inputs {
		names = append(names, in.Name)
		lines += in.Lines
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, "; read %d line(s) from %s", lines, strings.Join(names, ", "))
	}
	if r.Folded > 0 {
		fmt.Fprintf(&b, "; %d alert(s) shown inside incidents or superseded", r.Folded)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(&b, "; %d finding(s) below the minimum severity left out", r.Dropped)
	}
	b.WriteString(".")
	return clean(b.String())
}

func membersLine(r *Report) string {
	if len(r.Members) == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(r.Members), func(a, b string) int {
		return cmp.Or(cmp.Compare(detectorRank(a), detectorRank(b)), strings.Compare(a, b))
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", r.Members[k], k))
	}
	return clean(strings.Join(parts, ", ") + " alert(s)")
}

func zoneName(loc *time.Location) string {
	if loc == nil || loc == time.UTC {
		return "UTC"
	}
	return loc.String()
}

// fmtTime writes a finding's time to the microsecond with date and zone.
func fmtTime(t time.Time, loc *time.Location) string {
	return fmtClock(t.UnixNano(), loc, true)
}

func fmtConfidence(c float64) string { return strconv.FormatFloat(c, 'f', 2, 64) }

func buildFinding(f *alert.Alert, loc *time.Location) findingView {
	v := findingView{
		ID:           clean(f.ID),
		Incident:     f.Kind == "incident",
		Kind:         clean(f.Kind),
		Detector:     clean(f.Detector),
		Detectors:    clean(strings.Join(detectorsIn(f), " ")),
		Severity:     f.Severity.String(),
		SevRank:      int(f.Severity),
		SortTime:     f.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		Time:         fmtTime(f.Time, loc),
		Confidence:   fmtConfidence(f.Confidence),
		Summary:      clean(f.Summary),
		Src:          srcOf(f),
		Target:       clean(targetOf(f)),
		Technique:    clean(f.Technique),
		Authorized:   f.Authorized,
		AuthorizedAs: clean(f.AuthorizedAs),
		Supersedes:   clean(f.Supersedes),
		Attributes:   attrs(f.Attributes),
		Evidence:     cleanAll(f.Evidence),
	}
	v.KindLabel = v.Detector + " alert"
	if v.Incident {
		v.KindLabel = "incident: " + strings.Join(detectorsIn(f)[1:], " + ")
	}
	if !f.FirstSeen.IsZero() && !f.LastSeen.IsZero() && f.LastSeen.After(f.FirstSeen) {
		v.Span = "first seen " + fmtClock(f.FirstSeen.UnixNano(), loc, false) + ", over " + fmtDuration(f.LastSeen.Sub(f.FirstSeen).Nanoseconds())
	}
	if len(f.Sequence) > 0 {
		v.Sequence = clean(alert.SequenceString(f.Sequence))
	}
	if c := f.FollowedBy; c != nil {
		v.FollowedBy = clean(fmt.Sprintf("a connection to %d/%s at %s, %s after the last knock", c.Port, c.Proto, fmtClock(unixNano(c.Time), loc, false), fmtDuration(int64(c.DelayMS*1e6))))
		if c.Evidence != "" {
			v.FollowedBy += " (" + clean(c.Evidence) + ")"
		}
	}
	v.Reasons = cleanAll(f.Reasons)
	for _, m := range f.MemberAlerts {
		v.Members = append(v.Members, memberView{
			ID:         clean(m.ID),
			Detector:   clean(m.Detector),
			Severity:   m.Severity.String(),
			Confidence: fmtConfidence(m.Confidence),
			Summary:    clean(m.Summary),
			Reasons:    cleanAll(m.Reasons),
			Evidence:   cleanAll(m.Evidence),
			Attributes: attrs(m.Attributes),
		})
	}
	tl := buildTimeline(f)
	what := v.Detector + " " + v.ID
	if v.Incident {
		what = "incident " + v.ID
	}
	v.SVG = layout(cleanTimeline(tl), loc, what)
	v.Steps = steps(tl, loc)
	total := max(f.EvidenceTotal, len(f.Evidence))
	v.EvidenceNote = fmt.Sprintf("%d record(s)", total)
	if total > len(f.Evidence) {
		v.EvidenceNote = fmt.Sprintf("the first %d of %d records", len(f.Evidence), total)
	}
	return v
}

func cleanTimeline(tl timeline) timeline {
	for i := range tl.Events {
		tl.Events[i].Label = clean(tl.Events[i].Label)
		tl.Events[i].Text = clean(tl.Events[i].Text)
	}
	for g := range tl.Groups {
		for i := range tl.Groups[g].Events {
			tl.Groups[g].Events[i].Label = clean(tl.Groups[g].Events[i].Label)
			tl.Groups[g].Events[i].Text = clean(tl.Groups[g].Events[i].Text)
		}
		tl.Groups[g].Label = clean(tl.Groups[g].Label)
	}
	return tl
}

// steps is the timeline as a list, for reading and for searching.
func steps(tl timeline, loc *time.Location) []stepView {
	out := make([]stepView, 0, len(tl.Events))
	for _, e := range tl.Events {
		lane := laneTitles[e.Lane]
		if lane == "" {
			lane = e.Lane
		}
		text := e.Text
		if e.Approx {
			text += " (time known to the minute)"
		}
		out = append(out, stepView{Time: fmtClock(e.T, loc, false), Lane: clean(lane), Text: clean(text)})
	}
	return out
}

func attrs(m map[string]string) []kv {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]kv, 0, len(keys))
	for _, k := range keys {
		out = append(out, kv{K: clean(k), V: clean(m[k])})
	}
	return out
}

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clean(s)
	}
	return out
}
