package argv

import (
	"fmt"
	"strconv"
	"strings"
)

// Command is one simple command a script would run: its words after
// expansion, and its redirections (bash's /dev/tcp/HOST/PORT targets are
// how a shell loop knocks without any client binary).
type Command struct {
	Args   []string
	Redirs []Redirect
	// Dynamic is set when a word held an expansion the parser cannot
	// evaluate (a command substitution, an unset variable, arithmetic);
	// such words keep their text as written, e.g. "$(date)".
	Dynamic bool
}

// Redirect is one redirection of a command: its operator (">", ">>", "<",
// "<>", "&>" …) and its target word after expansion.
type Redirect struct {
	Op     string
	Target string
}

// Limits bound the work Script does on hostile input.
const (
	// MaxCommands is the most commands Script returns.
	MaxCommands = 256
	// MaxLoopItems is the most iterations a for-loop is unrolled to; the
	// rest are dropped and the script is reported as truncated.
	MaxLoopItems = 64
	// MaxExpand is the most words a brace or seq expansion yields.
	MaxExpand = 1024
	maxDepth  = 16
	maxScript = 64 << 10
)

// Result is what Script found.
type Result struct {
	Commands []Command
	// Truncated is set when a limit cut the unrolling short.
	Truncated bool
	// LoopItems is the largest number of items a single for-loop had
	// (before truncation), a hint of sweep size.
	LoopItems int
}

// Script parses a POSIX shell script (with the bash extensions common in
// one-liners: brace expansion, $'…', [[ ]], &>, /dev/tcp) into the simple
// commands it would run, in order. For-loops are unrolled over their word
// lists, variables assigned in the script (or in vars) are substituted,
// $(seq A B) and {A..B} are expanded; while/until/if/case bodies are walked
// once. The error reports a syntax problem; the commands parsed up to it are
// still returned.
func Script(src string, vars map[string]string) (Result, error) {
	if len(src) > maxScript {
		src = src[:maxScript]
	}
	return script(src, vars, 0)
}

func script(src string, vars map[string]string, depth int) (Result, error) {
	if depth > maxDepth {
		return Result{Truncated: true}, fmt.Errorf("command substitutions nested deeper than %d", maxDepth)
	}
	p := &parser{lx: lexer{s: src}}
	nodes := p.list(nil)
	e := &evaluator{env: map[string]string{}, depth: depth}
	for k, v := range vars {
		e.env[k] = v
	}
	e.run(nodes, 0)
	res := Result{Commands: e.out, Truncated: e.truncated, LoopItems: e.maxItems}
	err := p.err
	if err == nil && p.lx.err != nil {
		err = p.lx.err
	}
	return res, err
}

// --- lexer ---

type segKind uint8

const (
	segLit   segKind = iota
	segVar           // $name, ${name}
	segSubst         // $(…) or `…`
	segArith         // $((…))
)

type seg struct {
	kind   segKind
	s      string
	quoted bool
}

type word struct {
	segs []seg
}

// literal returns the word's text if it is a plain literal with no quoting
// and no expansion (a reserved word candidate).
func (w word) literal() (string, bool) {
	if len(w.segs) != 1 || w.segs[0].kind != segLit || w.segs[0].quoted {
		return "", false
	}
	return w.segs[0].s, true
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokWord
	tokOp
)

type token struct {
	kind tokKind
	op   string
	w    word
}

type lexer struct {
	s   string
	i   int
	err error
}

func (lx *lexer) fail(format string, args ...any) {
	if lx.err == nil {
		lx.err = fmt.Errorf("offset %d: "+format, append([]any{lx.i}, args...)...)
	}
}

var ops = []string{"&>>", "<<-", ";;", "&&", "||", "<<", ">>", "<>", ">&", "<&", ">|", "&>", ";", "&", "|", "(", ")", "<", ">", "\n"}

func (lx *lexer) next() token {
	s := lx.s
	for lx.i < len(s) {
		c := s[lx.i]
		if c == ' ' || c == '\t' || c == '\r' {
			lx.i++
			continue
		}
		if c == '\\' && lx.i+1 < len(s) && s[lx.i+1] == '\n' {
			lx.i += 2
			continue
		}
		if c == '#' {
			for lx.i < len(s) && s[lx.i] != '\n' {
				lx.i++
			}
			continue
		}
		break
	}
	if lx.i >= len(s) {
		return token{kind: tokEOF}
	}
	for _, op := range ops {
		if strings.HasPrefix(s[lx.i:], op) {
			lx.i += len(op)
			return token{kind: tokOp, op: op}
		}
	}
	return lx.word()
}

func isMeta(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' || c == '>'
}

func (lx *lexer) word() token {
	s := lx.s
	var w word
	var lit strings.Builder
	flush := func(quoted bool) {
		if lit.Len() > 0 {
			w.segs = append(w.segs, seg{kind: segLit, s: lit.String(), quoted: quoted})
			lit.Reset()
		}
	}
	start := lx.i
	for lx.i < len(s) {
		c := s[lx.i]
		if isMeta(c) {
			// An all-digit word right before a redirection is a file
			// descriptor number ("2>&1", "3<>/dev/tcp/…"): drop it.
			if (c == '<' || c == '>') && lx.i > start && allDigits(s[start:lx.i]) && len(w.segs) == 0 {
				lit.Reset()
				return lx.next()
			}
			// "{" … "}" groups and bash's [[ ]] are words; "(" inside a
			// word like "$(" is handled below.
			break
		}
		switch c {
		case '\\':
			if lx.i+1 < len(s) {
				if s[lx.i+1] != '\n' {
					lit.WriteByte(s[lx.i+1])
				}
				lx.i += 2
			} else {
				lx.i++
			}
		case '\'':
			flush(false)
			j := strings.IndexByte(s[lx.i+1:], '\'')
			if j < 0 {
				lx.fail("unterminated single quote")
				w.segs = append(w.segs, seg{kind: segLit, s: s[lx.i+1:], quoted: true})
				lx.i = len(s)
				return token{kind: tokWord, w: w}
			}
			w.segs = append(w.segs, seg{kind: segLit, s: s[lx.i+1 : lx.i+1+j], quoted: true})
			lx.i += j + 2
		case '"':
			flush(false)
			lx.i++
			lx.double(&w)
		case '$':
			if lx.i+1 < len(s) && s[lx.i+1] == '\'' {
				flush(false)
				lx.i += 2
				w.segs = append(w.segs, seg{kind: segLit, s: lx.ansiC(), quoted: true})
				continue
			}
			flush(false)
			lx.dollar(&w, false)
		case '`':
			flush(false)
			lx.backtick(&w, false)
		default:
			lit.WriteByte(c)
			lx.i++
		}
	}
	flush(false)
	return token{kind: tokWord, w: w}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// double reads the inside of "…" after the opening quote.
func (lx *lexer) double(w *word) {
	s := lx.s
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			w.segs = append(w.segs, seg{kind: segLit, s: lit.String(), quoted: true})
			lit.Reset()
		}
	}
	for lx.i < len(s) {
		c := s[lx.i]
		switch {
		case c == '"':
			flush()
			lx.i++
			if len(w.segs) == 0 {
				w.segs = append(w.segs, seg{kind: segLit, quoted: true})
			}
			return
		case c == '\\' && lx.i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[lx.i+1]) >= 0:
			if s[lx.i+1] != '\n' {
				lit.WriteByte(s[lx.i+1])
			}
			lx.i += 2
		case c == '$':
			flush()
			lx.dollar(w, true)
		case c == '`':
			flush()
			lx.backtick(w, true)
		default:
			lit.WriteByte(c)
			lx.i++
		}
	}
	flush()
	lx.fail("unterminated double quote")
}

// ansiC reads bash's $'…' after the opening quote.
func (lx *lexer) ansiC() string {
	s := lx.s
	var b strings.Builder
	for lx.i < len(s) {
		c := s[lx.i]
		if c == '\'' {
			lx.i++
			return b.String()
		}
		if c == '\\' && lx.i+1 < len(s) {
			d := s[lx.i+1]
			lx.i += 2
			switch d {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'x':
				n, k := 0, 0
				for k < 2 && lx.i < len(s) && isHex(s[lx.i]) {
					n = n*16 + hexVal(s[lx.i])
					lx.i++
					k++
				}
				b.WriteByte(byte(n))
			default:
				b.WriteByte(d)
			}
			continue
		}
		b.WriteByte(c)
		lx.i++
	}
	lx.fail("unterminated $'")
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// dollar reads an expansion starting at '$'.
func (lx *lexer) dollar(w *word, quoted bool) {
	s := lx.s
	lx.i++ // '$'
	if lx.i >= len(s) {
		w.segs = append(w.segs, seg{kind: segLit, s: "$", quoted: quoted})
		return
	}
	c := s[lx.i]
	switch {
	case c == '(' && lx.i+1 < len(s) && s[lx.i+1] == '(':
		end := matchParen(s, lx.i+1)
		if end < 0 {
			lx.fail("unterminated $((")
			w.segs = append(w.segs, seg{kind: segArith, s: s[lx.i:], quoted: quoted})
			lx.i = len(s)
			return
		}
		w.segs = append(w.segs, seg{kind: segArith, s: s[lx.i+2 : end], quoted: quoted})
		lx.i = end + 1
		if lx.i < len(s) && s[lx.i] == ')' {
			lx.i++
		}
	case c == '(':
		end := matchParen(s, lx.i)
		if end < 0 {
			lx.fail("unterminated $(")
			w.segs = append(w.segs, seg{kind: segSubst, s: s[lx.i+1:], quoted: quoted})
			lx.i = len(s)
			return
		}
		w.segs = append(w.segs, seg{kind: segSubst, s: s[lx.i+1 : end], quoted: quoted})
		lx.i = end + 1
	case c == '{':
		j := strings.IndexByte(s[lx.i:], '}')
		if j < 0 {
			lx.fail("unterminated ${")
			lx.i = len(s)
			return
		}
		w.segs = append(w.segs, seg{kind: segVar, s: s[lx.i+1 : lx.i+j], quoted: quoted})
		lx.i += j + 1
	case c == '_' || isAlpha(c):
		j := lx.i
		for j < len(s) && (s[j] == '_' || isAlpha(s[j]) || (s[j] >= '0' && s[j] <= '9')) {
			j++
		}
		w.segs = append(w.segs, seg{kind: segVar, s: s[lx.i:j], quoted: quoted})
		lx.i = j
	case (c >= '0' && c <= '9') || strings.IndexByte("@*#?$!-", c) >= 0:
		w.segs = append(w.segs, seg{kind: segVar, s: s[lx.i : lx.i+1], quoted: quoted})
		lx.i++
	default:
		w.segs = append(w.segs, seg{kind: segLit, s: "$", quoted: quoted})
	}
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// matchParen returns the index of the ')' closing the '(' at open, skipping
// quoted text, or -1.
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return -1
			}
			i += j + 1
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func (lx *lexer) backtick(w *word, quoted bool) {
	s := lx.s
	lx.i++
	var b strings.Builder
	for lx.i < len(s) {
		c := s[lx.i]
		if c == '`' {
			lx.i++
			w.segs = append(w.segs, seg{kind: segSubst, s: b.String(), quoted: quoted})
			return
		}
		if c == '\\' && lx.i+1 < len(s) {
			b.WriteByte(s[lx.i+1])
			lx.i += 2
			continue
		}
		b.WriteByte(c)
		lx.i++
	}
	lx.fail("unterminated backquote")
	w.segs = append(w.segs, seg{kind: segSubst, s: b.String(), quoted: quoted})
}

// --- parser ---

type nodeKind uint8

const (
	nodeSimple nodeKind = iota
	nodeFor
	nodeGroup // { }, ( ), while/until, if, case: bodies walked once
)

type redirTok struct {
	op     string
	target word
}

type node struct {
	kind   nodeKind
	words  []word
	redirs []redirTok
	// for loops
	varName string
	items   []word
	inList  bool
	body    []node
}

type parser struct {
	lx    lexer
	tok   token
	have  bool
	err   error
	depth int
	taken int // tokens consumed, to guarantee progress
}

func (p *parser) peek() token {
	if !p.have {
		p.tok = p.lx.next()
		p.have = true
	}
	return p.tok
}

func (p *parser) take() token {
	t := p.peek()
	p.have = false
	p.taken++
	return t
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("offset %d: "+format, append([]any{p.lx.i}, args...)...)
	}
}

// peekWord reports whether the next token is the reserved word w.
func (p *parser) peekWord(w string) bool {
	t := p.peek()
	if t.kind != tokWord {
		return false
	}
	s, ok := t.w.literal()
	return ok && s == w
}

func (p *parser) isStop(stops []string) bool {
	t := p.peek()
	if t.kind == tokOp && t.op == ")" {
		for _, s := range stops {
			if s == ")" {
				return true
			}
		}
		return false
	}
	if t.kind == tokOp && t.op == ";;" {
		for _, s := range stops {
			if s == ";;" {
				return true
			}
		}
		return false
	}
	if t.kind != tokWord {
		return false
	}
	s, ok := t.w.literal()
	if !ok {
		return false
	}
	for _, st := range stops {
		if s == st {
			return true
		}
	}
	return false
}

// list parses commands until EOF or one of the stop words (not consumed).
func (p *parser) list(stops []string) []node {
	var out []node
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		p.fail("nesting deeper than %d", maxDepth)
		for p.peek().kind != tokEOF {
			p.take()
		}
		return nil
	}
	for {
		t := p.peek()
		if t.kind == tokEOF || p.err != nil {
			return out
		}
		if p.isStop(stops) {
			return out
		}
		if t.kind == tokOp {
			switch t.op {
			case ";", "\n", "&", "&&", "||", "|", ";;":
				p.take()
				continue
			case "(":
				p.take()
				body := p.list([]string{")"})
				if t := p.peek(); t.kind == tokOp && t.op == ")" {
					p.take()
				} else {
					p.fail("missing )")
				}
				out = append(out, node{kind: nodeGroup, body: body})
				continue
			case ")":
				// stray ')' (e.g. a case pattern we did not parse): skip.
				p.take()
				continue
			}
		}
		before := p.taken
		n, ok := p.command()
		if ok {
			out = append(out, n)
		}
		if p.taken == before {
			p.take() // guarantee progress on a token no rule consumes
		}
	}
}

func (p *parser) command() (node, bool) {
	t := p.peek()
	if t.kind == tokWord {
		if s, ok := t.w.literal(); ok {
			switch s {
			case "for":
				p.take()
				return p.forLoop(), true
			case "while", "until":
				p.take()
				cond := p.list([]string{"do"})
				p.expect("do")
				body := p.list([]string{"done"})
				p.expect("done")
				return node{kind: nodeGroup, body: append(cond, body...)}, true
			case "if":
				p.take()
				var body []node
				body = append(body, p.list([]string{"then"})...)
				p.expect("then")
				for {
					body = append(body, p.list([]string{"elif", "else", "fi"})...)
					if p.peekWord("elif") {
						p.take()
						body = append(body, p.list([]string{"then"})...)
						p.expect("then")
						continue
					}
					if p.peekWord("else") {
						p.take()
						continue
					}
					break
				}
				p.expect("fi")
				return node{kind: nodeGroup, body: body}, true
			case "case":
				p.take()
				return p.caseStmt(), true
			case "{":
				p.take()
				body := p.list([]string{"}"})
				p.expect("}")
				return node{kind: nodeGroup, body: body}, true
			case "do", "done", "then", "fi", "esac", "}", "elif", "else", "in":
				p.take()
				p.fail("unexpected %q", s)
				return node{}, false
			case "function":
				p.take()
				p.take() // name
				if t := p.peek(); t.kind == tokOp && t.op == "(" {
					p.take()
					p.take()
				}
				return node{}, false // the body follows as a { } group
			}
		}
	}
	return p.simple()
}

func (p *parser) expect(w string) {
	if p.peekWord(w) {
		p.take()
		return
	}
	p.fail("expected %q", w)
}

func (p *parser) forLoop() node {
	n := node{kind: nodeFor}
	t := p.take()
	if t.kind == tokOp && t.op == "(" {
		// for (( … )): arithmetic loop, walk the body once.
		depth := 1
		for depth > 0 {
			t := p.take()
			if t.kind == tokEOF {
				p.fail("unterminated for ((")
				return node{kind: nodeGroup}
			}
			if t.kind == tokOp && t.op == "(" {
				depth++
			}
			if t.kind == tokOp && t.op == ")" {
				depth--
			}
		}
		p.skipSeparators()
		p.expect("do")
		n.kind = nodeGroup
		n.body = p.list([]string{"done"})
		p.expect("done")
		return n
	}
	name, ok := t.w.literal()
	if t.kind != tokWord || !ok {
		p.fail("for: bad variable name")
		return node{kind: nodeGroup}
	}
	n.varName = name
	p.skipNewlines()
	if p.peekWord("in") {
		p.take()
		n.inList = true
		for {
			t := p.peek()
			if t.kind != tokWord {
				break
			}
			n.items = append(n.items, p.take().w)
		}
	}
	p.skipSeparators()
	p.expect("do")
	n.body = p.list([]string{"done"})
	p.expect("done")
	return n
}

func (p *parser) skipNewlines() {
	for t := p.peek(); t.kind == tokOp && t.op == "\n"; t = p.peek() {
		p.take()
	}
}

func (p *parser) skipSeparators() {
	for t := p.peek(); t.kind == tokOp && (t.op == "\n" || t.op == ";"); t = p.peek() {
		p.take()
	}
}

func (p *parser) caseStmt() node {
	p.take() // the subject word
	p.skipNewlines()
	p.expect("in")
	var body []node
	for p.err == nil {
		p.skipSeparators()
		if p.peekWord("esac") {
			p.take()
			break
		}
		if p.peek().kind == tokEOF {
			p.fail("expected \"esac\"")
			break
		}
		// pattern: words and '|' up to ')'
		if t := p.peek(); t.kind == tokOp && t.op == "(" {
			p.take()
		}
		for {
			t := p.take()
			if t.kind == tokEOF || (t.kind == tokOp && t.op == ")") {
				break
			}
		}
		body = append(body, p.list([]string{";;", "esac"})...)
		if t := p.peek(); t.kind == tokOp && t.op == ";;" {
			p.take()
		}
	}
	return node{kind: nodeGroup, body: body}
}

func (p *parser) simple() (node, bool) {
	n := node{kind: nodeSimple}
	for {
		t := p.peek()
		switch t.kind {
		case tokWord:
			if len(n.words) == 0 && len(n.redirs) == 0 {
				if s, ok := t.w.literal(); ok && (s == "done" || s == "fi" || s == "esac" || s == "then" || s == "do" || s == "}") {
					return n, len(n.words)+len(n.redirs) > 0
				}
			}
			n.words = append(n.words, p.take().w)
			// name() { …; }: a function definition.
			if len(n.words) == 1 {
				if t := p.peek(); t.kind == tokOp && t.op == "(" {
					p.take()
					if t := p.peek(); t.kind == tokOp && t.op == ")" {
						p.take()
						return node{}, false
					}
				}
			}
		case tokOp:
			switch t.op {
			case "<", ">", ">>", "<>", ">&", "<&", ">|", "&>", "&>>", "<<", "<<-":
				p.take()
				tgt := p.peek()
				if tgt.kind != tokWord {
					p.fail("redirection %s without a target", t.op)
					return n, len(n.words)+len(n.redirs) > 0
				}
				p.take()
				if t.op == "<<" || t.op == "<<-" {
					continue // here-document bodies are not commands
				}
				n.redirs = append(n.redirs, redirTok{op: t.op, target: tgt.w})
			default:
				return n, len(n.words)+len(n.redirs) > 0
			}
		default:
			return n, len(n.words)+len(n.redirs) > 0
		}
	}
}

// --- evaluator ---

type evaluator struct {
	env       map[string]string
	out       []Command
	truncated bool
	maxItems  int
	budget    int
	depth     int // command-substitution nesting
}

func (e *evaluator) full() bool {
	if len(e.out) >= MaxCommands || e.budget > MaxCommands*MaxLoopItems {
		e.truncated = true
		return true
	}
	return false
}

func (e *evaluator) run(nodes []node, depth int) {
	if depth > maxDepth {
		e.truncated = true
		return
	}
	for i := range nodes {
		if e.full() {
			return
		}
		n := &nodes[i]
		e.budget++
		switch n.kind {
		case nodeSimple:
			e.simple(n)
		case nodeGroup:
			e.run(n.body, depth+1)
		case nodeFor:
			var items []string
			if n.inList {
				for _, w := range n.items {
					vals, _ := e.expand(w)
					items = append(items, vals...)
					if len(items) > MaxExpand {
						break
					}
				}
			} else {
				items = []string{"$@"}
			}
			e.maxItems = max(e.maxItems, len(items))
			if len(items) > MaxLoopItems {
				items = items[:MaxLoopItems]
				e.truncated = true
			}
			old, had := e.env[n.varName]
			for _, it := range items {
				e.env[n.varName] = it
				e.run(n.body, depth+1)
				if e.full() {
					break
				}
			}
			if had {
				e.env[n.varName] = old
			} else {
				delete(e.env, n.varName)
			}
		}
	}
}

// assignment splits NAME=value words.
func assignment(w word) (string, word, bool) {
	if len(w.segs) == 0 || w.segs[0].kind != segLit || w.segs[0].quoted {
		return "", word{}, false
	}
	s := w.segs[0].s
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return "", word{}, false
	}
	name := s[:eq]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || isAlpha(c) || (i > 0 && c >= '0' && c <= '9')) {
			return "", word{}, false
		}
	}
	rest := word{segs: append([]seg{{kind: segLit, s: s[eq+1:]}}, w.segs[1:]...)}
	return name, rest, true
}

func (e *evaluator) simple(n *node) {
	words := n.words
	// Leading NAME=value words: without a command they set variables for
	// the rest of the script; before a command they apply to it only,
	// which for our purposes is the same.
	for len(words) > 0 {
		name, val, ok := assignment(words[0])
		if !ok {
			break
		}
		s, _ := e.expandNoSplit(val)
		e.env[name] = s
		words = words[1:]
	}
	if len(words) == 0 && len(n.redirs) == 0 {
		return
	}
	var c Command
	for _, w := range words {
		vals, dyn := e.expand(w)
		c.Args = append(c.Args, vals...)
		c.Dynamic = c.Dynamic || dyn
		if len(c.Args) > MaxExpand {
			e.truncated = true
			break
		}
	}
	for _, r := range n.redirs {
		s, dyn := e.expandNoSplit(r.target)
		c.Dynamic = c.Dynamic || dyn
		c.Redirs = append(c.Redirs, Redirect{Op: r.op, Target: s})
	}
	// export/local/readonly NAME=value also set variables.
	if len(c.Args) > 1 && (c.Args[0] == "export" || c.Args[0] == "local" || c.Args[0] == "readonly" || c.Args[0] == "declare") {
		for _, a := range c.Args[1:] {
			if eq := strings.IndexByte(a, '='); eq > 0 {
				e.env[a[:eq]] = a[eq+1:]
			}
		}
	}
	e.out = append(e.out, c)
}

// value returns the text of one expansion segment and whether it is known.
func (e *evaluator) value(s seg) (string, bool) {
	switch s.kind {
	case segLit:
		return s.s, true
	case segVar:
		name := s.s
		// ${name:-default} and friends: take the variable, else the default.
		if i := strings.IndexAny(name, ":-=+?#%/"); i > 0 {
			base := name[:i]
			if v, ok := e.env[base]; ok {
				return v, true
			}
			rest := name[i:]
			rest = strings.TrimPrefix(rest, ":")
			if len(rest) > 0 && (rest[0] == '-' || rest[0] == '=') {
				return rest[1:], true
			}
			return "${" + name + "}", false
		}
		if v, ok := e.env[name]; ok {
			return v, true
		}
		return "$" + name, false
	case segSubst:
		if vals, ok := e.seq(s.s); ok {
			return strings.Join(vals, " "), true
		}
		return "$(" + s.s + ")", false
	case segArith:
		if v, ok := e.arith(s.s); ok {
			return v, true
		}
		return "$((" + s.s + "))", false
	}
	return "", false
}

// seq evaluates the command substitutions that only produce numbers:
// `seq LAST`, `seq FIRST LAST`, `seq FIRST INCR LAST`.
func (e *evaluator) seq(src string) ([]string, bool) {
	if t := strings.TrimSpace(src); !strings.HasPrefix(t, "seq ") && !strings.HasPrefix(t, "/usr/bin/seq ") {
		return nil, false
	}
	res, err := script(src, e.env, e.depth+1)
	if err != nil || len(res.Commands) != 1 {
		return nil, false
	}
	c := res.Commands[0]
	if len(c.Args) < 2 || len(c.Args) > 4 || Base(c.Args[0]) != "seq" || c.Dynamic {
		return nil, false
	}
	nums := make([]int, 0, 3)
	for _, a := range c.Args[1:] {
		v, err := strconv.Atoi(a)
		if err != nil {
			return nil, false
		}
		nums = append(nums, v)
	}
	first, incr, last := 1, 1, 0
	switch len(nums) {
	case 1:
		last = nums[0]
	case 2:
		first, last = nums[0], nums[1]
	case 3:
		first, incr, last = nums[0], nums[1], nums[2]
	}
	return numberRange(first, incr, last), true
}

func numberRange(first, incr, last int) []string {
	var out []string
	if incr == 0 {
		return nil
	}
	for v := first; (incr > 0 && v <= last) || (incr < 0 && v >= last); v += incr {
		out = append(out, strconv.Itoa(v))
		if len(out) > MaxExpand {
			break
		}
	}
	return out
}

// arith evaluates $((…)) when it is a single number or variable.
func (e *evaluator) arith(src string) (string, bool) {
	s := strings.TrimSpace(src)
	if _, err := strconv.Atoi(s); err == nil {
		return s, true
	}
	s = strings.TrimPrefix(s, "$")
	if v, ok := e.env[s]; ok {
		if _, err := strconv.Atoi(v); err == nil {
			return v, true
		}
	}
	return "", false
}

// expandNoSplit expands a word to one string (assignments, redirection
// targets).
func (e *evaluator) expandNoSplit(w word) (string, bool) {
	var b strings.Builder
	dyn := false
	for _, s := range w.segs {
		v, ok := e.value(s)
		dyn = dyn || !ok
		b.WriteString(v)
	}
	return b.String(), dyn
}

// expand expands a word into fields: unquoted expansion results are split
// on blanks, and an unquoted literal word is brace-expanded.
func (e *evaluator) expand(w word) ([]string, bool) {
	var (
		fields    []string
		cur       strings.Builder
		started   bool
		dyn       bool
		braceable = true
	)
	finish := func() {
		if started {
			fields = append(fields, cur.String())
			cur.Reset()
			started = false
		}
	}
	for _, s := range w.segs {
		v, ok := e.value(s)
		dyn = dyn || !ok
		if s.kind != segLit || s.quoted {
			braceable = false
		}
		if s.kind == segLit || s.quoted || !ok {
			cur.WriteString(v)
			started = true
			continue
		}
		if v == "" {
			continue
		}
		if isBlank(v[0]) {
			finish()
		}
		for i, part := range strings.Fields(v) {
			if i > 0 {
				finish()
			}
			cur.WriteString(part)
			started = true
		}
		if isBlank(v[len(v)-1]) {
			finish()
		}
		if len(fields) > MaxExpand {
			break
		}
	}
	finish()
	if braceable && len(fields) == 1 {
		return braceExpand(fields[0]), dyn
	}
	return fields, dyn
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// braceExpand does bash brace expansion of one word: a{b,c}d and {1..5}
// (with an optional step), recursively, bounded by MaxExpand.
func braceExpand(s string) []string {
	open := -1
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 {
				inner := s[open+1 : i]
				alts := braceAlternatives(inner)
				if alts == nil {
					open = -1
					continue
				}
				prefix, suffix := s[:open], s[i+1:]
				var out []string
				for _, a := range alts {
					for _, rest := range braceExpand(a + suffix) {
						out = append(out, prefix+rest)
						if len(out) > MaxExpand {
							return out
						}
					}
				}
				return out
			}
		}
	}
	return []string{s}
}

func braceAlternatives(inner string) []string {
	// {A..B[..STEP]}
	if parts := strings.Split(inner, ".."); len(parts) == 2 || len(parts) == 3 {
		a, err1 := strconv.Atoi(parts[0])
		b, err2 := strconv.Atoi(parts[1])
		step := 1
		var err3 error
		if len(parts) == 3 {
			step, err3 = strconv.Atoi(parts[2])
			if step < 0 {
				step = -step
			}
		}
		if err1 == nil && err2 == nil && err3 == nil && step != 0 {
			if a > b {
				step = -step
			}
			return numberRange(a, step, b)
		}
	}
	// {a,b,c} at top level of the braces
	var alts []string
	depth, start := 0, 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				alts = append(alts, inner[start:i])
				start = i + 1
			}
		}
	}
	if alts == nil {
		return nil
	}
	return append(alts, inner[start:])
}
