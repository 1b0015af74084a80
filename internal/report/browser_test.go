package report_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/report"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

var updateShot = flag.Bool("update-screenshot", false, "rewrite docs/img/report.png from the lab corpus report")

// corpus is read from the repository root (the test changes to it), so
// evidence in the report reads lab/corpus/..., as a hunt there would.
const corpus = "lab/corpus"

// huntCorpus hunts every scenario of the recorded lab corpus over its logs
// (firewall log, knockd's LogFile, fwknopd's log), as the scorecard's logs
// mode does, and returns the findings as the JSON lines hunt writes.
func huntCorpus(t *testing.T) ([]*alert.Alert, []byte) {
	t.Helper()
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	var all []*alert.Alert
	var lines bytes.Buffer
	for _, e := range entries {
		dir := filepath.Join(corpus, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "labels.jsonl")); err != nil {
			continue
		}
		bt, err := os.ReadFile(filepath.Join(dir, "boot-time"))
		if err != nil {
			t.Fatal(err)
		}
		boot, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(bt)))
		if err != nil {
			t.Fatalf("%s: boot-time: %v", dir, err)
		}
		var paths []string
		for _, f := range []string{"fw.log", "knockd.log", "fwknopd.log"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				paths = append(paths, filepath.Join(dir, f))
			}
		}
		res, err := hunt.Run(context.Background(), hunt.Options{
			Paths: paths, Config: config.Default(), Location: time.UTC, BootTime: boot, Shards: 1, Workers: 1,
		})
		if err != nil {
			t.Fatalf("hunt %s: %v", dir, err)
		}
		for _, a := range res.Alerts {
			b, err := a.Encode()
			if err != nil {
				t.Fatal(err)
			}
			lines.Write(b)
			all = append(all, a)
		}
	}
	return all, lines.Bytes()
}

// chromium runs headless Chromium on a file and returns its stdout and
// stderr (console messages are logged to stderr).
func chromium(t *testing.T, bin string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
		"--force-device-scale-factor=1",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tail(errb.String()))
	}
	return out.String(), errb.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// consoleProblems are the page's console complaints: a script error, or
// something the Content Security Policy blocked.
func consoleProblems(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") && (strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Uncaught") || strings.Contains(l, "Error")) {
			out = append(out, l)
		}
	}
	return out
}

type node = html.Node

func attr(n *node, k string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == k {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *node, f func(*node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func find(n *node, pred func(*node) bool) []*node {
	var out []*node
	walk(n, func(x *node) {
		if x.Type == html.ElementNode && pred(x) {
			out = append(out, x)
		}
	})
	return out
}

func hasAttr(k, v string) func(*node) bool {
	return func(n *node) bool { got, ok := attr(n, k); return ok && got == v }
}

func textOf(n *node) string {
	var b strings.Builder
	walk(n, func(x *node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
	})
	return b.String()
}

// TestLabCorpusReportInBrowser renders the report of the whole lab corpus,
// loads it in headless Chromium and checks the DOM after the page's script
// ran: one section per incident and per alert no incident took, each with
// an SVG timeline holding a mark per knock, the connection that followed
// and the daemon's lane where the finding has them; the filter, driven
// through the address, shows exactly the findings it should; nothing was
// blocked or failed in the console. It saves a screenshot (and with
// -update-screenshot writes it to docs/img/report.png, which the README
// shows).
func TestLabCorpusReportInBrowser(t *testing.T) {
	bin := testutil.RequireTool(t, "chromium")
	t.Chdir("../..")
	start := time.Now()
	alerts, lines := huntCorpus(t)
	var rd report.Reader
	if err := rd.Read(bytes.NewReader(lines), "lab-corpus.jsonl"); err != nil {
		t.Fatal(err)
	}
	if len(rd.Errors) > 0 {
		t.Fatalf("hunt output not readable: %v", rd.Errors)
	}
	rep := report.Build(&rd, report.Options{Title: "knockwatch report: lab corpus"})
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("hunted the corpus and rendered %d bytes in %s", buf.Len(), time.Since(start).Round(time.Millisecond))

	dom, stderr := chromium(t, bin, "--dump-dom", "file://"+page)
	if p := consoleProblems(stderr); len(p) > 0 {
		t.Errorf("console: %s", strings.Join(p, "\n"))
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	if len(find(doc, hasAttr("data-report-ready", "true"))) != 1 {
		t.Fatal("the page's script did not run to its end (no data-report-ready on <html>)")
	}

	// What the report must show: incidents and the alerts no incident
	// took, an alert superseded by a later one giving way to it.
	superseded := map[string]bool{}
	for _, a := range alerts {
		if a.Supersedes != "" {
			superseded[a.Supersedes] = true
		}
	}
	// An id seen again (the daemons' inventory finding is one per host,
	// and every scenario ran on the same lab host) is shown once.
	lastOf := map[string]int{}
	for i, a := range alerts {
		lastOf[a.ID] = i
	}
	incidents, lone := 0, 0
	for i, a := range alerts {
		if superseded[a.ID] || lastOf[a.ID] != i {
			continue
		}
		key := "data-alert-id"
		if a.Kind == "incident" {
			key = "data-incident-id"
			incidents++
		} else {
			lone++
		}
		secs := find(doc, func(n *node) bool { v, ok := attr(n, key); return n.Data == "section" && ok && v == a.ID })
		if len(secs) != 1 {
			t.Errorf("%s %s (%s): %d sections, want 1", key, a.ID, a.Summary, len(secs))
			continue
		}
		checkTimeline(t, a, secs[0])
	}
	if incidents < 10 {
		t.Errorf("the corpus gave %d incidents; the lab's knocks and SPA should give at least 10", incidents)
	}
	sections := find(doc, func(n *node) bool { return n.Data == "section" })
	if len(sections) != incidents+lone {
		t.Errorf("%d sections, want %d (%d incidents, %d alerts)", len(sections), incidents+lone, incidents, lone)
	}
	shown := find(doc, hasAttr("id", "shown"))
	if want := fmt.Sprintf("%d of %d", len(sections), len(sections)); len(shown) != 1 || textOf(shown[0]) != want {
		t.Errorf("counter: want %q", want)
	}

	// The filter, as a link would set it: high findings involving the
	// daemon detector, oldest first.
	dom, stderr = chromium(t, bin, "--dump-dom", "file://"+page+"#sort=time&sev=high&det=daemon")
	if p := consoleProblems(stderr); len(p) > 0 {
		t.Errorf("console (filtered): %s", strings.Join(p, "\n"))
	}
	fdoc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range rep.Findings {
		if f.Severity != alert.SeverityHigh {
			continue
		}
		for _, m := range append([]*alert.Alert{f}, f.MemberAlerts...) {
			if m.Detector == "daemon" {
				want++
				break
			}
		}
	}
	var visible []string
	for _, s := range find(fdoc, func(n *node) bool { return n.Data == "section" }) {
		if _, hidden := attr(s, "hidden"); !hidden {
			v, _ := attr(s, "data-time")
			visible = append(visible, v)
		}
	}
	if want == 0 || len(visible) != want {
		t.Errorf("filter sev=high det=daemon shows %d sections, want %d (and more than 0)", len(visible), want)
	}
	for i := 1; i < len(visible); i++ {
		if visible[i] < visible[i-1] {
			t.Errorf("sort=time: section %d (%s) before %s", i, visible[i-1], visible[i])
		}
	}

	shot := filepath.Join(dir, "report.png")
	chromium(t, bin, "--window-size=1000,1400", "--screenshot="+shot, "file://"+page)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := pngSize(png); w != 1000 || h != 1400 {
		t.Fatalf("screenshot is %dx%d, want 1000x1400", w, h)
	}
	committed := filepath.Join("docs", "img", "report.png")
	if *updateShot {
		if err := os.MkdirAll(filepath.Dir(committed), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(committed, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (run with -update-screenshot)", err)
	}
	if w, h := pngSize(old); w == 0 || h == 0 {
		t.Fatalf("%s is not a PNG", committed)
	}
	t.Logf("screenshot %s: %d bytes", shot, len(png))
}

// checkTimeline checks a finding's drawing: an SVG timeline with a mark
// per knock of each sequence, the connection that followed and the daemon's
// lane where the finding has them.
func checkTimeline(t *testing.T, a *alert.Alert, sec *node) {
	t.Helper()
	svgs := find(sec, func(n *node) bool { c, _ := attr(n, "class"); return n.Data == "svg" && c == "timeline" })
	if len(svgs) != 1 {
		t.Errorf("%s: %d timeline SVGs, want 1", a.ID, len(svgs))
		return
	}
	svg := svgs[0]
	members := []*alert.Alert{a}
	if a.Kind == "incident" {
		members = a.MemberAlerts
	}
	knocks, daemon := 0, false
	for _, m := range members {
		if m.Detector == "sequence" || m.Detector == "spa" || m.Detector == "magic" {
			knocks += len(m.Sequence)
		}
		daemon = daemon || m.Detector == "daemon"
	}
	// A sequence is drawn twice where it has an overview beside its zoom;
	// the zoomed panel has each knock once.
	zoom := find(svg, func(n *node) bool { c, _ := attr(n, "class"); return n.Data == "g" && strings.Contains(c, "zoom") })
	got := 0
	for _, z := range zoom {
		got += len(find(z, func(n *node) bool { _, ok := attr(n, "data-knock"); return ok }))
	}
	if knocks > 1 && got != knocks {
		t.Errorf("%s: %d knock marks in the zoomed sequence, want %d", a.ID, got, knocks)
	}
	if a.FollowedBy != nil && len(find(svg, hasAttr("data-lane", "connection"))) == 0 {
		t.Errorf("%s: followed by a connection, but no connection lane", a.ID)
	}
	if daemon && len(find(svg, hasAttr("data-lane", "daemon"))) == 0 {
		t.Errorf("%s: has a daemon member, but no daemon lane", a.ID)
	}
	if len(find(svg, func(n *node) bool { c, _ := attr(n, "class"); return n.Data == "text" && c == "tick" })) < 2 {
		t.Errorf("%s: the time axis has fewer than two labels", a.ID)
	}
}

// pngSize reads a PNG's width and height from its IHDR chunk.
func pngSize(b []byte) (int, int) {
	if len(b) < 24 || !bytes.Equal(b[:8], []byte("\x89PNG\r\n\x1a\n")) || string(b[12:16]) != "IHDR" {
		return 0, 0
	}
	return int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24]))
}

// TestHostileReportInBrowser loads the report of findings whose text is
// markup and script: after the page's script ran, the DOM holds exactly
// one script element and nothing the data injected, and the console shows
// no error and nothing blocked.
func TestHostileReportInBrowser(t *testing.T) {
	bin := testutil.RequireTool(t, "chromium")
	fh, err := os.Open(filepath.Join("testdata", "hostile.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var rd report.Reader
	if err := rd.Read(fh, "hostile.jsonl"); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "hostile.html")
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, report.Build(&rd, report.Options{})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := chromium(t, bin, "--dump-dom", "file://"+page)
	if p := consoleProblems(stderr); len(p) > 0 {
		t.Errorf("console: %s", strings.Join(p, "\n"))
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(find(doc, func(n *node) bool { return n.Data == "script" })); n != 1 {
		t.Errorf("%d script elements in the DOM, want 1", n)
	}
	for _, tag := range []string{"img", "iframe", "b", "a"} {
		if n := len(find(doc, func(n *node) bool { return n.Data == tag })); n != 0 {
			t.Errorf("%d <%s> elements injected", n, tag)
		}
	}
	walk(doc, func(n *node) {
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("<%s %s=%q> injected", n.Data, a.Key, a.Val)
			}
		}
	})
	if len(find(doc, hasAttr("data-report-ready", "true"))) != 1 {
		t.Error("the page's script did not run to its end")
	}
	if len(find(doc, func(n *node) bool { return n.Data == "section" })) != 2 {
		t.Error("want the 2 good findings shown")
	}
}
