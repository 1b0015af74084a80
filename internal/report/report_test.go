package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/knockwatch/knockwatch/internal/alert"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

func readFile(t testing.TB, path string) *Reader {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var rd Reader
	if err := rd.Read(fh, filepath.ToSlash(path)); err != nil {
		t.Fatal(err)
	}
	return &rd
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs from the output at line %d:\n got: %.300s\nwant: %.300s\n(run with -update and review the diff)", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs from the output: %d lines, want %d (run with -update and review the diff)", path, len(gl), len(wl))
	}
}

func TestGolden(t *testing.T) {
	rd := readFile(t, "testdata/findings.jsonl")
	if len(rd.Errors) > 0 {
		t.Fatalf("fixture has unreadable lines: %v", rd.Errors)
	}
	rep := Build(rd, Options{})
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer, *Report) error
	}{
		{"report.html.golden", func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) }},
		{"report.md.golden", func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := f.write(&a, rep); err != nil {
				t.Fatal(err)
			}
			// Deterministic: a second rendering of a fresh build is
			// byte-identical (no map order, clock or randomness).
			if err := f.write(&b, Build(readFile(t, "testdata/findings.jsonl"), Options{})); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("two renderings of the same input differ")
			}
			golden(t, f.name, a.Bytes())
		})
	}
}

// TestGoldenCoverage keeps the fixture honest: it must hold every kind of
// finding the report draws.
func TestGoldenCoverage(t *testing.T) {
	rep := Build(readFile(t, "testdata/findings.jsonl"), Options{})
	seen := map[string]bool{}
	lanes := map[string]bool{}
	for _, f := range rep.Findings {
		for _, d := range detectorsIn(f) {
			seen[d] = true
		}
		for _, e := range buildTimeline(f).Events {
			lanes[e.Lane] = true
		}
	}
	for _, d := range []string{"incident", "sequence", "spa", "magic", "daemon", "process", "scan"} {
		if !seen[d] {
			t.Errorf("fixture has no %s finding", d)
		}
	}
	for _, l := range []string{laneProcess, laneKnock, laneScan, laneDaemon, laneConn} {
		if !lanes[l] {
			t.Errorf("fixture draws nothing on lane %s", l)
		}
	}
	if rep.Folded == 0 {
		t.Error("fixture folds nothing (no members or superseded alerts)")
	}
}

// TestHostileInput renders findings whose text carries markup and escapes:
// the HTML must hold exactly the page's own script and no injected
// element or handler, the Markdown no raw HTML, link or block syntax from
// the data, and neither a terminal escape.
func TestHostileInput(t *testing.T) {
	rd := readFile(t, "testdata/hostile.jsonl")
	if len(rd.Errors) != 3 {
		t.Fatalf("unreadable lines: got %d, want 3: %v", len(rd.Errors), rd.Errors)
	}
	for i, want := range []int{3, 4, 5} {
		if rd.Errors[i].Line != want || !strings.Contains(rd.Errors[i].Error(), "hostile.jsonl:") {
			t.Errorf("error %d: %v, want line %d named with its file", i, rd.Errors[i], want)
		}
	}
	if n := len(rd.Alerts()); n != 2 {
		t.Fatalf("read %d findings, want 2 (the good lines around the bad ones)", n)
	}
	rep := Build(rd, Options{})
	var h, m bytes.Buffer
	if err := WriteHTML(&h, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&m, rep); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, h.Bytes())
	for name, out := range map[string][]byte{"html": h.Bytes(), "md": m.Bytes()} {
		if bytes.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("%s: a terminal escape or bidi override reached the output", name)
		}
	}
	fenceOpen := ""
	for i, line := range strings.Split(m.String(), "\n") {
		if run := line[:len(line)-len(strings.TrimLeft(line, "`"))]; len(run) >= 3 {
			switch {
			case fenceOpen == "":
				fenceOpen = run
				continue
			case strings.TrimSpace(line) == run && len(run) >= len(fenceOpen):
				fenceOpen = ""
				continue
			}
		}
		if fenceOpen != "" {
			continue
		}
		line = stripCodeSpans(line)
		if strings.Contains(line, "<script") || strings.Contains(line, "<img") || strings.Contains(line, "<iframe") {
			t.Errorf("md line %d: raw HTML: %s", i+1, line)
		}
		if strings.Contains(line, "](javascript") && !strings.Contains(line, `\](javascript`) {
			t.Errorf("md line %d: a link from the data: %s", i+1, line)
		}
		if strings.HasPrefix(line, "1. not a list") || strings.HasPrefix(line, "# heading") {
			t.Errorf("md line %d: block syntax from the data: %s", i+1, line)
		}
	}
}

// stripCodeSpans drops inline code (its content is literal text in every
// Markdown renderer).
func stripCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' || (i > 0 && line[i-1] == '\\') {
			b.WriteByte(line[i])
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] == '`' {
			j++
		}
		run := line[i:j]
		end := strings.Index(line[j:], run)
		if end < 0 {
			b.WriteString(run)
			i = j
			continue
		}
		i = j + end + len(run)
	}
	return b.String()
}

// checkHTML parses a page and fails on anything but its own script and
// style: extra script or style elements, event-handler attributes,
// javascript: URLs, embedded content.
func checkHTML(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	scripts, styles := 0, 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "script":
			scripts++
		case "style":
			styles++
		case "img", "iframe", "object", "embed", "link", "base", "form", "a", "foreignobject", "use", "image":
			t.Errorf("element <%s> in the page", tok.Data)
		}
		for _, a := range tok.Attr {
			k := strings.ToLower(a.Key)
			if strings.HasPrefix(k, "on") || k == "href" || k == "src" || k == "style" || strings.HasSuffix(k, ":href") {
				t.Errorf("<%s %s=%q> in the page", tok.Data, a.Key, a.Val)
			}
		}
	}
	if scripts != 1 || styles != 1 {
		t.Errorf("page has %d script and %d style elements, want 1 and 1", scripts, styles)
	}
	if !bytes.Contains(page, []byte("Content-Security-Policy")) {
		t.Error("page has no Content Security Policy")
	}
}

func TestGoldenHTMLIsClean(t *testing.T) {
	rep := Build(readFile(t, "testdata/findings.jsonl"), Options{})
	var h bytes.Buffer
	if err := WriteHTML(&h, rep); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, h.Bytes())
	for _, ext := range []string{"http://", "https://", "//fonts", "url("} {
		// The only URL in the page is the SVG namespace; the rest of the
		// page fetches nothing.
		n := bytes.Count(h.Bytes(), []byte(ext))
		if ext == "http://" {
			n -= bytes.Count(h.Bytes(), []byte("http://www.w3.org/2000/svg"))
		}
		if n != 0 && !strings.Contains(ext, "https") {
			t.Errorf("page refers to %q %d time(s)", ext, n)
		}
	}
}

func enc(t *testing.T, a *alert.Alert) string {
	t.Helper()
	b, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuildFolds checks what a sensor's stream needs: members sent before
// their incident, a redelivered alert, and a superseded alert are each
// shown once, inside what replaced them.
func TestBuildFolds(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 15, 2, 0, time.UTC)
	mk := func(id, det string, sev alert.Severity, at time.Duration) *alert.Alert {
		return &alert.Alert{ID: id, Kind: "alert", Detector: det, Severity: sev, Time: t0.Add(at), FirstSeen: t0, LastSeen: t0.Add(at)}
	}
	early := mk("a1", "sequence", alert.SeverityMedium, 0)
	later := mk("a2", "sequence", alert.SeverityHigh, time.Second)
	later.Supersedes = "a1"
	daemon := mk("d1", "daemon", alert.SeverityMedium, 0)
	inc := mk("i1", "correlate", alert.SeverityHigh, time.Second)
	inc.Kind = "incident"
	inc.Members = []string{"a2", "d1"}
	inc.MemberAlerts = []*alert.Alert{later, daemon}
	lone := mk("l1", "scan", alert.SeverityInfo, 2*time.Second)
	stream := enc(t, early) + enc(t, later) + enc(t, daemon) + enc(t, lone) + enc(t, lone) + enc(t, inc)
	var rd Reader
	if err := rd.Read(strings.NewReader(stream), "watch.jsonl"); err != nil {
		t.Fatal(err)
	}
	rep := Build(&rd, Options{})
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	if got := strings.Join(ids, ","); got != "i1,l1" {
		t.Errorf("findings %s, want i1,l1", got)
	}
	if rep.Folded != 4 {
		t.Errorf("folded %d, want 4 (a1 superseded, a2 and d1 members, l1 repeated)", rep.Folded)
	}
	rep = Build(&rd, Options{MinSeverity: alert.SeverityLow})
	if len(rep.Findings) != 1 || rep.Dropped != 1 {
		t.Errorf("--min-severity low: %d findings, %d dropped; want 1 and 1", len(rep.Findings), rep.Dropped)
	}
}

func TestReadLongLine(t *testing.T) {
	good := enc(t, &alert.Alert{ID: "g", Kind: "alert", Detector: "scan", Severity: alert.SeverityInfo, Time: time.Unix(1, 0).UTC()})
	long := `{"id":"x","summary":"` + strings.Repeat("A", MaxLine) + `"}` + "\n"
	var rd Reader
	if err := rd.Read(strings.NewReader(good+long+good), "big.jsonl"); err != nil {
		t.Fatal(err)
	}
	if len(rd.Alerts()) != 2 || len(rd.Errors) != 1 || rd.Errors[0].Line != 2 {
		t.Fatalf("got %d findings and errors %v; want 2 and one error on line 2", len(rd.Alerts()), rd.Errors)
	}
	if !strings.Contains(rd.Errors[0].Error(), "longer than") {
		t.Errorf("error %q does not say the line is too long", rd.Errors[0])
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain 7000/tcp", "plain 7000/tcp"},
		{"a\nb\tc", "a b c"},
		{"\x1b[31mred", `\u001b[31mred`},
		{"bad \xff byte", `bad \xff byte`},
		{"\u202egnp.exe", `\u202egnp.exe`},
		{"µs → ok", "µs → ok"},
	} {
		if got := clean(c.in); got != c.want {
			t.Errorf("clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMarkdownEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"7000/tcp,8000/tcp", "7000/tcp,8000/tcp"},
		{"a|b", `a\|b`},
		{"*x* _y_ [z](u)", `\*x\* \_y\_ \[z\](u)`},
		{"<b>&", "&lt;b&gt;&amp;"},
		{"# h", `\# h`},
		{"- item", `\- item`},
		{"12. x", `12\. x`},
		{"1) x", `1\) x`},
		{"198.51.100.7 knocked", "198.51.100.7 knocked"},
	} {
		if got := md(c.in); got != c.want {
			t.Errorf("md(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := mdCode("a``b|c"); got != "```a``b\\|c```" {
		t.Errorf("mdCode = %q", got)
	}
}

func FuzzReport(f *testing.F) {
	for _, p := range []string{"testdata/findings.jsonl", "testdata/hostile.jsonl"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 1<<16 {
			return
		}
		var rd Reader
		if err := rd.Read(bytes.NewReader(line), "fuzz"); err != nil {
			t.Fatal(err)
		}
		rep := Build(&rd, Options{})
		var h, m bytes.Buffer
		if err := WriteHTML(&h, rep); err != nil {
			t.Fatal(err)
		}
		if err := WriteMarkdown(&m, rep); err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(h.Bytes(), []byte("<script")); n != 1 {
			t.Fatalf("%d <script in the page", n)
		}
		if len(rd.Alerts()) == 1 {
			// Whatever it holds, a finding read is a finding shown,
			// unless it names itself as superseded.
			a := rd.Alerts()[0]
			if !(a.Supersedes == a.ID && a.Kind != "incident") && len(rep.Findings) != 1 {
				b, _ := json.Marshal(a)
				t.Fatalf("finding not shown: %s", b)
			}
		}
	})
}
