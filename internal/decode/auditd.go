package decode

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads Linux audit records (formats.md 5.3; kernel/auditsc.c
// audit_log_execve_info and audit_log_exit): the file auditd writes
// (/var/log/audit/audit.log, RAW or ENRICHED, with or without node=),
// `ausearch --raw` output (records of an event in reverse order, "----"
// between events), and records forwarded through syslog (audisp-syslog, or
// the kernel's "audit: type=1300 audit(…)" lines in kern.log).
//
// One syscall makes several records sharing msg=audit(SEC.MS:SERIAL):
// SYSCALL, then EXECVE (possibly several, a long argument split into
// aN[k] chunks), CWD, PATH items and PROCTITLE. Records of other events may
// come between them, so records are joined by serial. auditd does not write
// the kernel's EOE record to its log (seen in the captured samples), so an
// event is complete when it has both its SYSCALL and its PROCTITLE record
// (the kernel writes PROCTITLE last, ausearch writes it first and SYSCALL
// last), at an EOE record or a "----" line where present, once the stream
// is more than auditEndOfEvent past it (auditd's own end_of_event_timeout
// default), or at Flush.
//
// An execve that succeeded becomes a process event (Argv from the EXECVE
// records, which hold the whole vector; from PROCTITLE, which the kernel
// cuts at 128 bytes, when EXECVE is missing). A write to a watched file
// (open for writing, creat, truncate, rename, link, unlink) becomes a file
// event. Other records yield nothing.

// auditEndOfEvent is how long after its first record an event is assumed
// complete, as auditd's end_of_event_timeout (default 2 s).
const auditEndOfEvent = 2 * time.Second

// auditMaxPending caps the events being joined; an event pushed out is
// judged with what it has. auditMaxArgs and auditMaxBytes cap one event's
// argument vector against a hostile argc or endless chunks.
const (
	auditMaxPending = 64
	auditMaxArgs    = 4096
	auditMaxBytes   = 1 << 20
)

var auditdFormat = Format{
	Name:     "auditd",
	Summary:  "Linux audit records (audit.log RAW or ENRICHED, ausearch --raw, audit lines in syslog): execve events and writes to watched files",
	Sniff:    sniffAuditd,
	New:      func(o Options) Decoder { return newAuditdDecoder(o) },
	Parallel: false, // records are joined across lines by serial
	// Events are emitted when complete, which may be a little after a
	// later event was.
	Lateness: auditEndOfEvent + time.Second,
}

var _ Decoder = (*auditdDecoder)(nil)
var _ Flusher = (*auditdDecoder)(nil)

var (
	tokAuditType  = []byte("type=")
	tokAuditMsg   = []byte("audit(")
	tokAuditNode  = []byte("node=")
	tokAuditSplit = []byte("----")
)

// sniffAuditd recognises an audit record: "type=X msg=audit(" at the start
// of the line (after node=), or after a syslog header.
func sniffAuditd(line []byte) int {
	i := auditTypeIndex(line)
	if i < 0 {
		return 0
	}
	if i == 0 || bytes.HasPrefix(line, tokAuditNode) {
		return 15
	}
	return 9 // forwarded through syslog: above a plain syslog line, below netfilter text
}

// auditTypeIndex returns where "type=NAME msg=audit(" or the kernel's
// "type=1300 audit(" starts, or -1.
func auditTypeIndex(line []byte) int {
	off := 0
	for off < len(line) {
		i := bytes.Index(line[off:], tokAuditType)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || line[i-1] == ' ' {
			j := i + len(tokAuditType)
			for j < len(line) && line[j] != ' ' {
				j++
			}
			rest := line[j:]
			rest = bytes.TrimPrefix(rest, []byte(" msg="))
			rest = bytes.TrimPrefix(rest, []byte(" "))
			if bytes.HasPrefix(rest, tokAuditMsg) && j > i+len(tokAuditType) {
				return i
			}
		}
		off = i + len(tokAuditType)
	}
	return -1
}

type auditArg struct {
	val    []byte
	have   bool
	chunks []auditChunk
}

type auditChunk struct {
	k   int
	val []byte
}

type auditPath struct {
	name     string
	nametype string
}

// auditEvent is one event being joined.
type auditEvent struct {
	serial  uint64
	t       int64
	origin  event.Origin
	node    string
	syscall bool // SYSCALL record seen
	title   bool // PROCTITLE record seen
	ignore  bool // a syscall that is neither an exec nor a file change

	sysName string // "execve", "openat", …
	success bool
	a       [4]uint64 // register arguments
	pid     int64
	ppid    int64
	uid     string
	auid    string
	exe     string
	argc    int
	args    []auditArg
	nbytes  int
	ptitle  []byte
	cwd     string
	paths   []auditPath
}

type auditdDecoder struct {
	clk     clock
	h       syslogLine
	pending []*auditEvent
	free    []*auditEvent
	latest  int64
}

func newAuditdDecoder(o Options) *auditdDecoder {
	return &auditdDecoder{clk: newClock(o)}
}

// Decode reads one record.
func (d *auditdDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if bytes.HasPrefix(line, tokAuditSplit) && len(bytes.Trim(line, "-")) == 0 {
		// ausearch's separator: every event before it is whole.
		return d.Flush(dst), nil
	}
	if bytes.HasPrefix(line, []byte("time->")) {
		return dst, nil // ausearch's time header
	}
	start := auditTypeIndex(line)
	if start < 0 {
		if bytes.Contains(line, tokAuditMsg) && bytes.Contains(line, tokAuditType) {
			return dst, errorf(ReasonMalformed, "type", 0, "audit record without type=NAME msg=audit(…)")
		}
		return dst, nil // another program's line in a syslog file
	}
	var node []byte
	if start > 0 {
		pre := line[:start]
		if bytes.HasPrefix(pre, tokAuditNode) {
			if sp := bytes.IndexByte(pre, ' '); sp > 0 {
				node = pre[len(tokAuditNode):sp]
			}
		} else {
			d.clk.splitSyslog(line, &d.h)
			node = d.h.host
			if i := bytes.Index(pre, tokAuditNode); i >= 0 {
				if sp := bytes.IndexByte(pre[i:], ' '); sp > 0 {
					node = pre[i+len(tokAuditNode) : i+sp]
				}
			}
		}
	}
	rec := line[start+len(tokAuditType):]
	sp := bytes.IndexByte(rec, ' ')
	typ := rec[:sp]
	rec = rec[sp+1:]
	rec = bytes.TrimPrefix(rec, []byte("msg="))
	rec = rec[len(tokAuditMsg):]
	closing := bytes.IndexByte(rec, ')')
	if closing < 0 {
		return dst, errorf(ReasonMalformed, "msg", len(line)-len(rec)+1, "audit( without a closing parenthesis")
	}
	stamp := rec[:closing]
	colon := bytes.LastIndexByte(stamp, ':')
	if colon < 0 {
		return dst, errorf(ReasonBadTime, "msg", len(line)-len(rec)+1, "audit(SECONDS.MILLIS:SERIAL) without a serial")
	}
	t, ok := parseEpoch(stamp[:colon])
	if !ok {
		return dst, errorf(ReasonBadTime, "msg", len(line)-len(rec)+1, fmt.Sprintf("%q is not SECONDS.MILLIS", stamp[:colon]))
	}
	if t >= maxEpochSec*int64(time.Second) {
		return dst, errorf(ReasonBadTime, "msg", len(line)-len(rec)+1, "time after 2200")
	}
	serial, ok := parseUint(stamp[colon+1:], 1<<63-1)
	if !ok {
		return dst, errorf(ReasonBadField, "msg", len(line)-len(rec)+colon+2, fmt.Sprintf("serial %q is not a number", stamp[colon+1:]))
	}
	body := rec[closing+1:]
	body = bytes.TrimPrefix(body, []byte(":"))
	var enriched []byte
	if gs := bytes.IndexByte(body, 0x1d); gs >= 0 {
		body, enriched = body[:gs], body[gs+1:]
	}
	if t > d.latest {
		d.latest = t
	}

	kind := auditRecordKind(typ)
	if kind == recOther {
		return d.expire(dst), nil
	}
	ev := d.find(serial, node, t, origin, &dst)
	var err error
	switch kind {
	case recSyscall:
		err = d.syscall(ev, body, enriched)
	case recExecve:
		err = d.execve(ev, body)
	case recProctitle:
		v, _ := auditField(body, "proctitle")
		if !ev.title {
			ev.ptitle = append(ev.ptitle[:0], auditValue(v)...)
		}
		ev.title = true
	case recCWD:
		v, _ := auditField(body, "cwd")
		ev.cwd = string(auditValue(v))
	case recPath:
		name, ok := auditField(body, "name")
		if ok && len(ev.paths) < 16 {
			nt, _ := auditField(body, "nametype")
			ev.paths = append(ev.paths, auditPath{name: string(auditValue(name)), nametype: string(nt)})
		}
	}
	if err != nil {
		return d.expire(dst), err
	}
	if kind == recEOE || (ev.syscall && ev.title && (kind == recSyscall || kind == recProctitle)) {
		dst = d.complete(ev, dst)
	}
	return d.expire(dst), nil
}

type auditKind uint8

const (
	recOther auditKind = iota
	recSyscall
	recExecve
	recProctitle
	recCWD
	recPath
	recEOE
)

func auditRecordKind(typ []byte) auditKind {
	switch string(typ) {
	case "SYSCALL", "1300":
		return recSyscall
	case "EXECVE", "1309":
		return recExecve
	case "PROCTITLE", "1327":
		return recProctitle
	case "CWD", "1307":
		return recCWD
	case "PATH", "1302":
		return recPath
	case "EOE", "1320":
		return recEOE
	}
	return recOther
}

// find returns the pending event of serial on node, making one (and
// pushing out the oldest when the table is full). Serials count per host,
// so a central log or a relay interleaves equal serials of several hosts.
func (d *auditdDecoder) find(serial uint64, node []byte, t int64, origin event.Origin, dst *[]event.Event) *auditEvent {
	for _, ev := range d.pending {
		if ev.serial == serial && ev.node == string(node) {
			return ev
		}
	}
	if len(d.pending) == auditMaxPending {
		*dst = d.complete(d.pending[0], *dst)
	}
	var ev *auditEvent
	if n := len(d.free); n > 0 {
		ev, d.free = d.free[n-1], d.free[:n-1]
		args, ptitle, paths := ev.args[:0], ev.ptitle[:0], ev.paths[:0]
		*ev = auditEvent{args: args, ptitle: ptitle, paths: paths}
	} else {
		ev = &auditEvent{}
	}
	ev.serial, ev.t, ev.origin = serial, t, origin
	if len(node) > 0 {
		ev.node = string(node)
	}
	d.pending = append(d.pending, ev)
	return ev
}

// expire completes events the stream has moved past.
func (d *auditdDecoder) expire(dst []event.Event) []event.Event {
	for len(d.pending) > 0 && d.pending[0].t < d.latest-int64(auditEndOfEvent) {
		dst = d.complete(d.pending[0], dst)
	}
	return dst
}

// Flush emits every event still being joined.
func (d *auditdDecoder) Flush(dst []event.Event) []event.Event {
	for len(d.pending) > 0 {
		dst = d.complete(d.pending[0], dst)
	}
	return dst
}

// complete removes ev from the pending table and emits what it holds.
func (d *auditdDecoder) complete(ev *auditEvent, dst []event.Event) []event.Event {
	i := slices.Index(d.pending, ev)
	if i >= 0 {
		d.pending = slices.Delete(d.pending, i, i+1)
	}
	dst = d.emit(ev, dst)
	if len(d.free) < 8 {
		d.free = append(d.free, ev)
	}
	return dst
}

func (d *auditdDecoder) syscall(ev *auditEvent, body, enriched []byte) error {
	ev.syscall = true
	name := ""
	if v, ok := auditField(enriched, "SYSCALL"); ok {
		name = string(v)
	}
	if name == "" {
		arch, _ := auditField(body, "arch")
		num, ok := auditField(body, "syscall")
		if !ok {
			return errorf(ReasonMissingField, "syscall", 0, "SYSCALL record without syscall=")
		}
		n, ok := parseUint(num, 1<<16)
		if !ok {
			return errorf(ReasonBadField, "syscall", 0, fmt.Sprintf("syscall=%q is not a number", num))
		}
		name = syscallName(string(arch), int(n))
	}
	ev.sysName = name
	if !isExecSyscall(name) && !isFileSyscall(name) {
		ev.ignore = true
		return nil
	}
	s, _ := auditField(body, "success")
	ev.success = string(s) != "no"
	for k, key := range [...]string{"a0", "a1", "a2", "a3"} {
		if v, ok := auditField(body, key); ok {
			ev.a[k], _ = strconv.ParseUint(string(v), 16, 64)
		}
	}
	if v, ok := auditField(body, "pid"); ok {
		n, _ := parseUint(v, 1<<62)
		ev.pid = int64(n)
	}
	if v, ok := auditField(body, "ppid"); ok {
		n, _ := parseUint(v, 1<<62)
		ev.ppid = int64(n)
	}
	ev.uid = auditUser(body, enriched, "uid", "UID")
	ev.auid = auditUser(body, enriched, "auid", "AUID")
	if v, ok := auditField(body, "exe"); ok {
		ev.exe = string(auditValue(v))
	}
	return nil
}

// auditUser returns the account of an id field: ENRICHED's name, else the
// number; "" for unset (4294967295).
func auditUser(body, enriched []byte, key, ekey string) string {
	if v, ok := auditField(enriched, ekey); ok {
		s := string(auditValue(v))
		switch {
		case s == "unset":
			return ""
		case len(s) > 9 && s[:8] == "unknown(" && s[len(s)-1] == ')':
			return s[8 : len(s)-1]
		}
		return s
	}
	v, ok := auditField(body, key)
	if !ok || string(v) == "4294967295" || string(v) == "-1" {
		return ""
	}
	return string(v)
}

func (d *auditdDecoder) execve(ev *auditEvent, body []byte) error {
	for len(body) > 0 {
		var key, val []byte
		key, val, body = nextAuditField(body)
		if len(key) == 0 {
			continue
		}
		if string(key) == "argc" {
			n, ok := parseUint(val, 1<<31)
			if !ok {
				return errorf(ReasonBadField, "argc", 0, fmt.Sprintf("argc=%q is not a number", val))
			}
			ev.argc = int(min(n, auditMaxArgs))
			continue
		}
		if key[0] != 'a' || len(key) < 2 || !digit(key[1]) {
			continue
		}
		j := 1
		idx := 0
		for j < len(key) && digit(key[j]) {
			idx = idx*10 + int(key[j]-'0')
			j++
			if idx >= auditMaxArgs {
				return errorf(ReasonBadField, string(key), 0, "argument index beyond the cap")
			}
		}
		suffix := key[j:]
		if bytes.Equal(suffix, []byte("_len")) {
			continue
		}
		chunk := -1
		if len(suffix) > 2 && suffix[0] == '[' && suffix[len(suffix)-1] == ']' {
			k, ok := parseUint(suffix[1:len(suffix)-1], 1<<20)
			if !ok {
				return errorf(ReasonBadField, string(key), 0, "chunk index is not a number")
			}
			chunk = int(k)
		} else if len(suffix) != 0 {
			continue
		}
		v := auditValue(val)
		if ev.nbytes+len(v) > auditMaxBytes {
			return errorf(ReasonTooLong, "EXECVE", 0, fmt.Sprintf("arguments longer than %d bytes", auditMaxBytes))
		}
		ev.nbytes += len(v)
		for len(ev.args) <= idx {
			ev.args = append(ev.args, auditArg{})
		}
		a := &ev.args[idx]
		if chunk < 0 {
			a.val = append(a.val[:0], v...)
			a.have = true
		} else {
			a.chunks = append(a.chunks, auditChunk{k: chunk, val: append([]byte(nil), v...)})
		}
	}
	return nil
}

// argv assembles the argument vector: from the EXECVE records when they
// hold every argument, else from PROCTITLE.
func (ev *auditEvent) argv() []string {
	n := ev.argc
	if n == 0 {
		n = len(ev.args)
	}
	if n > 0 && len(ev.args) >= n {
		out := make([]string, n)
		whole := true
		for i := 0; i < n; i++ {
			a := &ev.args[i]
			switch {
			case a.have:
				out[i] = string(a.val)
			case len(a.chunks) > 0:
				slices.SortStableFunc(a.chunks, func(x, y auditChunk) int { return x.k - y.k })
				var b []byte
				for _, c := range a.chunks {
					b = append(b, c.val...)
				}
				out[i] = string(b)
			default:
				whole = false
			}
		}
		if whole {
			return out
		}
	}
	if len(ev.ptitle) > 0 {
		t := bytes.TrimRight(ev.ptitle, "\x00")
		parts := bytes.Split(t, []byte{0})
		out := make([]string, len(parts))
		for i, p := range parts {
			out[i] = string(p)
		}
		return out
	}
	return nil
}

func (d *auditdDecoder) emit(ev *auditEvent, dst []event.Event) []event.Event {
	if !ev.syscall || ev.ignore || !ev.success {
		return dst
	}
	p := &event.Process{
		Source:     "auditd",
		Host:       ev.node,
		User:       ev.uid,
		PID:        ev.pid,
		PPID:       ev.ppid,
		Image:      ev.exe,
		WorkingDir: ev.cwd,
	}
	if ev.auid != ev.uid {
		p.LoginUser = ev.auid
	}
	if isExecSyscall(ev.sysName) {
		p.Operation = event.OpExec
		p.Argv = ev.argv()
		if len(p.Argv) == 0 && p.Image == "" {
			return dst
		}
	} else {
		op, target := ev.fileChange()
		if op == "" {
			return dst
		}
		p.Operation, p.FilePath = op, target
		if len(ev.ptitle) > 0 {
			p.Argv = ev.argv()
		}
	}
	return append(dst, event.Event{Time: ev.t, Origin: ev.origin, Kind: event.KindProcess, Process: p})
}

// fileChange says whether a file syscall changed a file, and which: the
// name a rename or creat made, else the file opened for writing, truncated
// or removed.
func (ev *auditEvent) fileChange() (string, string) {
	op := event.OpWrite
	switch ev.sysName {
	case "open", "openat":
		flags := ev.a[1]
		if ev.sysName == "openat" {
			flags = ev.a[2]
		}
		const oWrOnly, oRdWr, oCreat, oTrunc = 1, 2, 0x40, 0x200
		if flags&(oWrOnly|oRdWr|oCreat|oTrunc) == 0 {
			return "", "" // a read
		}
	case "unlink", "unlinkat":
		op = event.OpDelete
	}
	pick := ""
	for _, want := range [...]string{"CREATE", "NORMAL", "DELETE"} {
		for _, p := range ev.paths {
			if p.nametype == want && p.name != "" && p.name != "(null)" {
				pick = p.name
				break
			}
		}
		if pick != "" {
			break
		}
	}
	if pick == "" {
		return "", ""
	}
	if !path.IsAbs(pick) && ev.cwd != "" {
		pick = path.Join(ev.cwd, pick)
	}
	return op, pick
}

func isExecSyscall(name string) bool { return name == "execve" || name == "execveat" }

func isFileSyscall(name string) bool {
	switch name {
	case "open", "openat", "openat2", "creat", "truncate", "rename", "renameat", "renameat2",
		"link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat":
		return true
	}
	return false
}

// syscallName maps an arch= and syscall= pair to the names this decoder
// uses (RAW logs carry only the numbers). Numbers from the kernel's
// syscall tables: arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl,
// include/uapi/asm-generic/unistd.h (aarch64).
func syscallName(arch string, n int) string {
	var table map[int]string
	switch arch {
	case "c000003e": // x86_64
		table = syscallsX8664
	case "c00000b7": // aarch64
		table = syscallsGeneric
	case "40000003": // i386
		table = syscallsI386
	}
	return table[n]
}

var (
	syscallsX8664 = map[int]string{2: "open", 85: "creat", 257: "openat", 437: "openat2", 76: "truncate",
		82: "rename", 264: "renameat", 316: "renameat2", 86: "link", 265: "linkat", 88: "symlink",
		266: "symlinkat", 87: "unlink", 263: "unlinkat", 59: "execve", 322: "execveat"}
	syscallsGeneric = map[int]string{56: "openat", 437: "openat2", 45: "truncate", 38: "renameat",
		276: "renameat2", 37: "linkat", 36: "symlinkat", 35: "unlinkat", 221: "execve", 281: "execveat"}
	syscallsI386 = map[int]string{5: "open", 8: "creat", 295: "openat", 437: "openat2", 92: "truncate",
		38: "rename", 302: "renameat", 353: "renameat2", 9: "link", 303: "linkat", 83: "symlink",
		304: "symlinkat", 10: "unlink", 301: "unlinkat", 11: "execve", 358: "execveat"}
)

// nextAuditField splits the first key=value off a record body.
func nextAuditField(b []byte) (key, val, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	eq := bytes.IndexByte(b, '=')
	if eq < 0 {
		return nil, nil, nil
	}
	if sp := bytes.IndexByte(b[:eq], ' '); sp >= 0 {
		return nil, nil, b[sp+1:] // a word without '=': skip it
	}
	key = b[:eq]
	b = b[eq+1:]
	if len(b) > 0 && b[0] == '"' {
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			return key, b, nil
		}
		return key, b[:end+2], b[end+2:]
	}
	if len(b) > 0 && b[0] == '{' { // ENRICHED SADDR={ … }
		end := bytes.IndexByte(b, '}')
		if end >= 0 {
			return key, b[:end+1], b[end+1:]
		}
	}
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return key, b, nil
	}
	return key, b[:sp], b[sp:]
}

// auditField returns the raw value of key in a record body.
func auditField(b []byte, key string) ([]byte, bool) {
	for len(b) > 0 {
		var k, v []byte
		k, v, b = nextAuditField(b)
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// auditValue decodes a value as the kernel writes it: "quoted" text is
// literal; otherwise an even run of upper-case hex digits is the hex of the
// raw bytes (arguments with a quote, a blank or a control byte); anything
// else ((null), numbers) is literal.
func auditValue(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	if len(v) == 0 || len(v)%2 != 0 {
		return v
	}
	for _, c := range v {
		if !(digit(c) || (c >= 'A' && c <= 'F')) {
			return v
		}
	}
	out := make([]byte, len(v)/2)
	for i := range out {
		out[i] = hexNibble(v[2*i])<<4 | hexNibble(v[2*i+1])
	}
	return out
}

func hexNibble(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
