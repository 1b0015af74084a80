// Package argv turns the command lines that process-event sources record
// into argument vectors, so detectors match options and operands instead of
// substrings of a string.
//
// Split and SplitWindows split one command line (Defender's
// ProcessCommandLine, ECS process.command_line, Sysmon's CommandLine) the way
// the program's own runtime would have: POSIX shell word rules on Unix,
// CommandLineToArgvW rules on Windows. Script goes further for the argument
// of `sh -c`/`bash -c`: it parses the script into the simple commands it
// would run, unrolling for-loops and substituting variables the script sets,
// so `for p in 7000 8000; do nc -z host $p; done` becomes two nc commands.
//
// Nothing here executes anything, and every loop, expansion and nesting level
// is bounded: the input is attacker-controlled text.
package argv

import (
	"errors"
	"strings"
)

// ErrUnterminated is returned (wrapped) when a quote or expansion is not
// closed; the words read so far are still returned.
var ErrUnterminated = errors.New("unterminated quote")

// Split splits a command line into words the way a POSIX shell splits the
// words of a simple command. Blanks separate words; single quotes keep their
// content literally; double quotes keep it too, except that a backslash
// escapes $, `, ", \ and newline; an unquoted backslash escapes the next
// character. No expansion is done: "$x" stays "$x", and shell operators
// (;, |, >) are ordinary characters, because a recorded command line is
// the argv of one process, not a script.
func Split(s string) ([]string, error) {
	var (
		out    []string
		cur    strings.Builder
		inWord bool
		err    error
	)
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				cur.WriteString(s[i+1:])
				i = len(s)
				err = ErrUnterminated
				break
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case c == '"':
			inWord = true
			i++
			closed := false
			for i < len(s) {
				d := s[i]
				if d == '"' {
					closed = true
					i++
					break
				}
				if d == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					if s[i+1] != '\n' {
						cur.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				cur.WriteByte(d)
				i++
			}
			if !closed {
				err = ErrUnterminated
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				if s[i+1] != '\n' {
					cur.WriteByte(s[i+1])
				}
				i += 2
			} else {
				i++
			}
		default:
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, err
}

// SplitWindows splits a Windows command line the way CommandLineToArgvW and
// the Microsoft C runtime do: blanks separate arguments outside double
// quotes; 2n backslashes before a quote become n backslashes and the quote
// toggles quoting; 2n+1 backslashes before a quote become n backslashes and
// a literal quote; other backslashes are literal (they are path separators);
// "" inside a quoted argument is a literal quote. The first argument (the
// program) ends at the first blank outside quotes, backslashes and all.
func SplitWindows(s string) []string {
	var out []string
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) {
		return nil
	}
	// The program name: quotes group, backslashes are literal.
	var cur strings.Builder
	inQuote := false
	for i < len(s) {
		c := s[i]
		if c == '"' {
			inQuote = !inQuote
			i++
			continue
		}
		if !inQuote && (c == ' ' || c == '\t') {
			break
		}
		cur.WriteByte(c)
		i++
	}
	out = append(out, cur.String())
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return out
		}
		cur.Reset()
		inQuote = false
		for i < len(s) {
			c := s[i]
			if c == '\\' {
				n := 0
				for i < len(s) && s[i] == '\\' {
					n++
					i++
				}
				if i < len(s) && s[i] == '"' {
					cur.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						cur.WriteByte('"')
						i++
					}
					continue
				}
				cur.WriteString(strings.Repeat(`\`, n))
				continue
			}
			if c == '"' {
				if inQuote && i+1 < len(s) && s[i+1] == '"' {
					cur.WriteByte('"')
					i += 2
					continue
				}
				inQuote = !inQuote
				i++
				continue
			}
			if !inQuote && (c == ' ' || c == '\t') {
				break
			}
			cur.WriteByte(c)
			i++
		}
		out = append(out, cur.String())
	}
}

// LooksWindows reports whether a command line or image path is a Windows
// one (a drive letter or backslash path), so the caller can pick
// SplitWindows.
func LooksWindows(image string) bool {
	if len(image) >= 3 && image[1] == ':' && (image[2] == '\\' || image[2] == '/') {
		return true
	}
	return strings.HasPrefix(image, `\\`) || (strings.IndexByte(image, '\\') >= 0 && strings.IndexByte(image, '/') < 0)
}

// Base returns the last element of a Unix or Windows path, without a
// trailing ".exe" (any case), lower-cased when the path is a Windows one.
func Base(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	if n := len(p); n > 4 && strings.EqualFold(p[n-4:], ".exe") {
		p = strings.ToLower(p[:n-4])
	}
	return p
}
