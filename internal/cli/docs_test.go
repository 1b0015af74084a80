package cli

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
)

// The documents a reader copies commands from: the README and docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md"}
	err := filepath.WalkDir("../../docs", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// docCommand is one knockwatch command line quoted in a document.
type docCommand struct {
	where string // file:line
	args  []string
	// full: from a code block, a whole command line to run (arguments and
	// required flags are checked too); otherwise an inline mention.
	full bool
	text string
}

// mdBlock is a fenced code block or an inline code span.
type mdBlock struct {
	line  int
	info  string // a fence's info string; "`" for inline code
	lines []string
}

// parseMarkdown returns a document's fenced blocks and inline code spans.
func parseMarkdown(r io.Reader) []mdBlock {
	var out []mdBlock
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	var cur *mdBlock
	fence := ""
	for sc.Scan() {
		n++
		line := sc.Text()
		trim := strings.TrimLeft(line, " ")
		if cur != nil {
			if strings.HasPrefix(trim, fence) && strings.Trim(trim, fence[:1]) == "" {
				out = append(out, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, line)
			continue
		}
		if strings.HasPrefix(trim, "```") || strings.HasPrefix(trim, "~~~") {
			c := trim[:1]
			fence = trim[:len(trim)-len(strings.TrimLeft(trim, c))]
			cur = &mdBlock{line: n, info: strings.TrimSpace(trim[len(fence):])}
			continue
		}
		for _, span := range codeSpans(line) {
			out = append(out, mdBlock{line: n, info: "`", lines: []string{span}})
		}
	}
	return out
}

// codeSpans finds the inline code spans of a line.
func codeSpans(line string) []string {
	var out []string
	for i := 0; i < len(line); {
		if line[i] != '`' {
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
			i = j
			continue
		}
		out = append(out, strings.TrimSpace(line[j:j+end]))
		i = j + end + len(run)
	}
	return out
}

// shellWords splits a command line the way a shell would for our purpose:
// quotes group, "$(...)" is one word, and operators (| || && ; & < > ( ))
// are words of their own, marked with a leading NUL. A comment ends it.
func shellWords(s string) []string {
	var out []string
	var b strings.Builder
	in := false
	flush := func() {
		if in {
			out = append(out, b.String())
			b.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !in:
			flush()
			return out
		case c == '\'' || c == '"':
			in = true
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				b.WriteString(s[i+1:])
				i = len(s)
				break
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			in = true
			depth := 0
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			b.WriteString(s[i:min(j+1, len(s))])
			i = j
		case strings.IndexByte("|&;<>()", c) >= 0:
			flush()
			op := string(c)
			if i+1 < len(s) && (s[i+1] == c || (c == '>' && s[i+1] == '&')) {
				op += string(s[i+1])
				i++
			}
			out = append(out, "\x00"+op)
		case c == '\\' && i+1 < len(s):
			in = true
			b.WriteByte(s[i+1])
			i++
		default:
			in = true
			b.WriteByte(c)
		}
	}
	flush()
	return out
}

// knockwatchCommands finds the knockwatch invocations in a shell line: a
// word "knockwatch" (or a path ending in /knockwatch, or "go run
// ./cmd/knockwatch") where a command starts, with its arguments up to the
// next operator; redirections are dropped.
func knockwatchCommands(line string) [][]string {
	words := shellWords(line)
	var out [][]string
	start := true
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "\x00") {
			start = w != "\x00>" && w != "\x00>>" && w != "\x00<" && w != "\x00>&"
			if !start {
				i++ // the redirection's target
				start = false
			}
			continue
		}
		if !start {
			continue
		}
		switch {
		case w == "sudo" || w == "time" || w == "exec" || w == "nohup" || strings.Contains(w, "=") && !strings.HasPrefix(w, "-"):
			continue // still at a command's start
		case w == "go" && i+2 < len(words) && words[i+1] == "run" && strings.HasSuffix(words[i+2], "cmd/knockwatch"):
			i += 2
			fallthrough
		case w == "knockwatch" || strings.HasSuffix(w, "/knockwatch"):
			var args []string
			for i+1 < len(words) && !strings.HasPrefix(words[i+1], "\x00") {
				i++
				args = append(args, words[i])
			}
			// A redirection ends the arguments but not the command.
			for i+1 < len(words) && (words[i+1] == "\x00>" || words[i+1] == "\x00>>" || words[i+1] == "\x00<") {
				i += 2
				for i+1 < len(words) && !strings.HasPrefix(words[i+1], "\x00") {
					i++
					args = append(args, words[i])
				}
			}
			out = append(out, args)
		}
		start = false
	}
	return out
}

func collectCommands(t *testing.T) []docCommand {
	t.Helper()
	var cmds []docCommand
	for _, f := range docFiles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := parseMarkdown(fh)
		fh.Close()
		name := strings.TrimPrefix(f, "../../")
		for _, b := range blocks {
			if b.info == "json" || b.info == "yaml" || b.info == "kusto" {
				continue
			}
			// Join continued lines.
			var lines []string
			var lineNo []int
			for i, l := range b.lines {
				if n := len(lines); n > 0 && strings.HasSuffix(lines[n-1], `\`) {
					lines[n-1] = strings.TrimSuffix(lines[n-1], `\`) + " " + strings.TrimSpace(l)
					continue
				}
				lines = append(lines, l)
				lineNo = append(lineNo, b.line+i+1)
			}
			for i, l := range lines {
				l = strings.TrimPrefix(strings.TrimSpace(l), "$ ")
				at := lineNo[i]
				if b.info == "`" {
					at = b.line
				}
				for _, args := range knockwatchCommands(l) {
					cmds = append(cmds, docCommand{where: name + ":" + strconv.Itoa(at), args: args, full: b.info != "`", text: l})
				}
			}
		}
	}
	return cmds
}

// checkCommand checks a command line against the command tree: the
// subcommands exist, every flag exists and takes the value given, and for a
// whole command line, the arguments and required flags are what the
// command accepts.
func checkCommand(c docCommand) string {
	root := NewRoot(Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cmd, rest, err := root.Find(c.args)
	if err != nil {
		return err.Error()
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return cmd.CommandPath() + ": " + err.Error()
	}
	pos := cmd.Flags().Args()
	if !cmd.Runnable() {
		if len(pos) > 0 {
			return cmd.CommandPath() + ": unknown command " + pos[0]
		}
		return ""
	}
	if !c.full {
		return ""
	}
	if help, _ := cmd.Flags().GetBool("help"); help {
		return ""
	}
	if err := cmd.ValidateArgs(pos); err != nil {
		return cmd.CommandPath() + ": " + err.Error()
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return cmd.CommandPath() + ": " + err.Error()
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return cmd.CommandPath() + ": " + err.Error()
	}
	return ""
}

// TestDocsCommandLines checks every knockwatch command line quoted in the
// README and docs/ against the CLI's own subcommands and flags.
func TestDocsCommandLines(t *testing.T) {
	cmds := collectCommands(t)
	full := 0
	for _, c := range cmds {
		if c.full {
			full++
		}
		if msg := checkCommand(c); msg != "" {
			t.Errorf("%s: %s\n    %s", c.where, msg, c.text)
		}
	}
	// The guides quote dozens of commands; finding few means the extractor
	// broke, not that the docs are clean.
	if full < 40 || len(cmds)-full < 10 {
		t.Errorf("found %d command lines and %d inline mentions; the extractor misses commands", full, len(cmds)-full)
	}
	t.Logf("checked %d command lines and %d inline mentions", full, len(cmds)-full)
}

// TestDocsCheckerCatches makes sure the checker fails what it should.
func TestDocsCheckerCatches(t *testing.T) {
	for _, c := range []struct {
		line string
		full bool
		bad  bool
	}{
		{"knockwatch hunt --tz UTC -o json logs/ > findings.jsonl", true, false},
		{"zcat kern.log.2.gz | knockwatch hunt -", true, false},
		{`knockwatch explain --src 198.51.100.7 --boot-time "$(cat d/boot-time)" d/fw.log`, true, false},
		{"go run ./cmd/knockwatch hunt --tz UTC --year 2026 demo/", true, false},
		{"knockwatch report -o report.html findings.jsonl", true, false},
		{"knockwatch hunt --no-such-flag logs/", true, true},
		{"knockwatch hunt --min-severity", true, true},
		{"knockwatch hunts logs/", true, true},
		{"knockwatch config frobnicate x", true, true},
		{"knockwatch explain /var/log/kern.log", true, true},  // --src is required
		{"knockwatch config check", true, true},               // needs a file
		{"knockwatch emulate knock --delay soon", true, true}, // not a duration
		{"knockwatch explain", false, false},                  // an inline mention
		{"knockwatch capture -i eth0 --duration 10m", true, false},
	} {
		cmds := knockwatchCommands(c.line)
		if len(cmds) != 1 {
			t.Errorf("%q: found %d commands, want 1", c.line, len(cmds))
			continue
		}
		msg := checkCommand(docCommand{args: cmds[0], full: c.full, text: c.line})
		if (msg != "") != c.bad {
			t.Errorf("%q: check says %q, want bad=%v", c.line, msg, c.bad)
		}
	}
	if got := knockwatchCommands("echo knockwatch hunt"); len(got) != 0 {
		t.Errorf("an argument named knockwatch is not a command: %q", got)
	}
}

// TestDocsConfigExamples parses every YAML block of the docs as a
// configuration: strictly, so a key that does not exist fails.
func TestDocsConfigExamples(t *testing.T) {
	n := 0
	for _, f := range docFiles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := parseMarkdown(fh)
		fh.Close()
		for _, b := range blocks {
			if b.info != "yaml" {
				continue
			}
			n++
			if _, err := config.Parse([]byte(strings.Join(b.lines, "\n"))); err != nil {
				t.Errorf("%s:%d: YAML example is not a valid configuration: %v", strings.TrimPrefix(f, "../../"), b.line, err)
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d YAML examples; the tuning guide has more", n)
	}
}

// snakeRe matches the names the docs quote as fields, keys and values:
// lower-case words joined by "_" or ".", like followed_by.delay_ms.
var snakeRe = regexp.MustCompile(`^[a-z][a-z0-9]*(?:[._][a-z0-9]+)*$`)

// externalNames are names the guides quote that belong to other tools'
// formats (knockd.conf, Zeek, fwknop), not to knockwatch.
var externalNames = []string{
	"seq_timeout", "one_time_sequences", "start_command", "cmd_timeout", "conn_state",
	"tcpflags", "use_json",
	// Kafka collectors' options (Vector, Fluent Bit, librdkafka).
	"key_field", "message_key_field", "consistent_random",
}

// TestDocsNamesExist checks that every field or key the docs quote in
// inline code with an underscore (alert fields, attributes, configuration
// keys, attribute values) is a name knockwatch uses: a JSON field of an
// alert, a configuration key, or a string the detectors, the correlator or
// the magic rules write.
func TestDocsNamesExist(t *testing.T) {
	known := map[string]bool{}
	for _, n := range externalNames {
		known[n] = true
	}
	tagNames(reflect.TypeOf(alert.Alert{}), "json", known)
	tagNames(reflect.TypeOf(config.Config{}), "yaml", known)
	for _, glob := range []string{"../detect/*.go", "../correlate/*.go", "../../rules/*.yaml", "../config/*.go", "../kafka/*.go"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range regexp.MustCompile(`[a-z][a-z0-9_]*`).FindAllString(string(data), -1) {
				known[w] = true
			}
		}
	}
	checked := 0
	for _, f := range docFiles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := parseMarkdown(fh)
		fh.Close()
		for _, b := range blocks {
			if b.info != "`" {
				continue
			}
			s := b.lines[0]
			if !snakeRe.MatchString(s) || !strings.Contains(s, "_") {
				continue
			}
			checked++
			for _, part := range strings.Split(s, ".") {
				if !known[part] {
					t.Errorf("%s:%d: `%s`: %q is not a field, key or value knockwatch has", strings.TrimPrefix(f, "../../"), b.line, s, part)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d names", checked)
	}
}

func tagNames(ty reflect.Type, tag string, into map[string]bool) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get(tag), ","); name != "" && name != "-" {
				into[name] = true
			}
			walk(f.Type)
		}
	}
	walk(ty)
}

// TestDocsLinks checks that relative links between the documents point at
// files that exist.
func TestDocsLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				t.Errorf("%s: link to %s: %v", strings.TrimPrefix(f, "../../"), target, err)
			}
		}
	}
}
