package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteMarkdown renders the report as Markdown for a ticket: the same
// summary and findings as the HTML, with each timeline as text. Text from
// logs is escaped so it cannot become markup, links or HTML in a Markdown
// renderer; timelines and evidence go in fenced blocks whose fence is
// longer than any run of backticks inside them.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	v := buildPage(r)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("# %s\n\n%s\n\n", md(v.Title), md(v.Lead))
	if len(v.Errors) > 0 {
		p("> **%d input line(s) could not be read and were skipped:**\n", v.BadLines)
		for _, e := range v.Errors {
			p("> - %s\n", md(e))
		}
		p("\n")
	}
	p("## Summary\n\n### Findings by detector and severity\n\n| detector |")
	for _, s := range v.Severities {
		p(" %s |", s)
	}
	p(" total |\n|---|")
	for range v.Severities {
		p("---:|")
	}
	p("---:|\n")
	for _, row := range append(v.Matrix, v.Total) {
		name := md(row.Detector)
		if row.Detector == "all" {
			name = "**all**"
		}
		p("| %s |", name)
		for _, c := range row.Cells {
			p(" %s |", c)
		}
		p(" %d |\n", row.Total)
	}
	if v.Members != "" {
		p("\nIncidents join %s.\n", md(v.Members))
	}
	for _, t := range []struct {
		title string
		rows  []countView
	}{{"Top sources", v.TopSources}, {"Top targets", v.TopTargets}} {
		p("\n### %s\n\n", t.title)
		if len(t.rows) == 0 {
			p("none\n")
			continue
		}
		p("| address | findings | highest |\n|---|---:|---|\n")
		for _, c := range t.rows {
			p("| %s | %d | %s |\n", mdCode(c.Key), c.N, c.Severity)
		}
	}

	p("\n## Findings\n")
	if len(v.Findings) == 0 {
		p("\nNo findings.\n")
	}
	for i, f := range v.Findings {
		p("\n### %d. %s %s: %s\n\n", i+1, strings.ToUpper(f.Severity), md(f.KindLabel), md(f.Summary))
		p("| | |\n|---|---|\n")
		row := func(k, val string) {
			if val != "" {
				p("| %s | %s |\n", k, val)
			}
		}
		row("time", md(f.Time))
		if f.Span != "" {
			row("span", md(f.Span))
		}
		row("source", mdCode(f.Src))
		row("target", mdCode(f.Target))
		row("sequence", mdCode(f.Sequence))
		row("followed by", md(f.FollowedBy))
		row("confidence", f.Confidence)
		row("technique", md(f.Technique))
		auth := "no"
		if f.Authorized {
			auth = "yes"
			if f.AuthorizedAs != "" {
				auth += " (" + md(f.AuthorizedAs) + ")"
			}
		}
		row("authorized", auth)
		row("supersedes", mdCode(f.Supersedes))
		row("id", mdCode(f.ID))

		if len(f.Steps) > 0 {
			p("\n**Timeline** (%s)\n\n", md(v.Zone))
			var b strings.Builder
			lw := 0
			for _, s := range f.Steps {
				lw = max(lw, utf8.RuneCountInString(s.Lane))
			}
			for _, s := range f.Steps {
				fmt.Fprintf(&b, "%s  %-*s  %s\n", s.Time, lw, s.Lane, s.Text)
			}
			fence(bw, "text", b.String())
		}
		p("\n**Why: confidence %s**\n\n", f.Confidence)
		for _, r := range f.Reasons {
			p("- %s\n", md(r))
		}
		if len(f.Members) > 0 {
			p("\n**Members**\n\n| detector | severity | conf. | what | id |\n|---|---|---:|---|---|\n")
			for _, m := range f.Members {
				p("| %s | %s | %s | %s | %s |\n", md(m.Detector), m.Severity, m.Confidence, md(m.Summary), mdCode(m.ID))
			}
			for _, m := range f.Members {
				p("\n*%s %s*: why\n\n", md(m.Detector), mdCode(m.ID))
				for _, r := range m.Reasons {
					p("- %s\n", md(r))
				}
			}
		}
		if len(f.Attributes) > 0 {
			p("\n**Details**\n\n| attribute | value |\n|---|---|\n")
			for _, a := range f.Attributes {
				p("| %s | %s |\n", md(a.K), mdCode(a.V))
			}
		}
		p("\n**Evidence** (%s)\n\n", md(f.EvidenceNote))
		fence(bw, "text", strings.Join(f.Evidence, "\n")+"\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write Markdown: %w", err)
	}
	return nil
}

// mdEscaper backslash-escapes the characters that make inline Markdown
// (emphasis, code, links, tables, strikethrough) and writes the HTML
// specials as entities, so text from logs stays text in CommonMark, GitHub
// and Jira-like renderers.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"|", `\|`, "~", `\~`, "<", "&lt;", ">", "&gt;", "&", "&amp;",
)

// md escapes s for inline Markdown. A leading character that would start a
// block (a heading, a list, a quote, a rule) where s opens a line is
// escaped too.
func md(s string) string {
	s = mdEscaper.Replace(s)
	if s == "" {
		return s
	}
	switch s[0] {
	case '#', '+', '-', '=', '>':
		return `\` + s
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i > 0 && (s[i] == '.' || s[i] == ')') && (i+1 == len(s) || s[i+1] == ' ') {
		return s[:i] + `\` + s[i:]
	}
	return s
}

// mdCode writes s as an inline code span whose backtick fence is longer
// than any backtick run in s ("" stays empty). GitHub splits table rows on
// "|" before it parses code spans, and reads "\|" there as a literal bar,
// so bars are escaped.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	ticks := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return ticks + pad + strings.ReplaceAll(s, "|", `\|`) + pad + ticks
}

// fence writes a fenced code block holding text.
func fence(w io.Writer, info, text string) {
	n := max(3, longestRun(text, '`')+1)
	f := strings.Repeat("`", n)
	fmt.Fprintf(w, "%s%s\n%s%s\n", f, info, text, f)
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
