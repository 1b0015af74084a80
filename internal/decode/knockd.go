package decode

import (
	"bytes"
	"net/netip"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads knockd's messages (formats.md 1.3, K1–K18, knockd 0.8) as
// they reach syslog (tag "knockd", no PID), journald, Sentinel's Syslog table
// or knockd's own LogFile. Only the strings knockd really writes are
// matched; a knockd message this file does not know yields no event.

// daemonState is what the daemon message decoders keep per stream: an arena
// for the Daemon records and their text, so a daemon line costs no
// allocation in steady state, and the last host name seen, so a file of one
// host's lines shares one string.
type daemonState struct {
	slab     []event.Daemon
	text     []byte
	lastHost []byte
	hostStr  string
}

// daemon hands out a zeroed Daemon record from a slab. Slabs are never
// reused, so a record lives as long as an event or alert refers to it.
func (s *daemonState) daemon() *event.Daemon {
	if len(s.slab) == 0 {
		s.slab = make([]event.Daemon, 64)
	}
	d := &s.slab[0]
	s.slab = s.slab[1:]
	return d
}

// str copies b into the text arena and returns a string viewing the copy.
// The arena is append-only: bytes handed out are never written again, and a
// full arena is replaced rather than reset, so the strings stay valid (the
// same reasoning as strings.Builder's unsafe conversion).
func (s *daemonState) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(s.text)-len(s.text) < len(b) {
		s.text = make([]byte, 0, max(8192, len(b)))
	}
	start := len(s.text)
	s.text = append(s.text, b...)
	return unsafe.String(&s.text[start], len(b))
}

func (s *daemonState) host(h []byte) string {
	if len(h) == 0 {
		return ""
	}
	if !bytes.Equal(h, s.lastHost) || s.hostStr == "" {
		s.lastHost = append(s.lastHost[:0], h...)
		s.hostStr = s.str(h)
	}
	return s.hostStr
}

// daemonEvent starts the event for a daemon line: the message copied once,
// every other string a view of that copy.
func (s *daemonState) daemonEvent(program string, h *syslogLine, msg []byte, origin event.Origin) (event.Event, *event.Daemon, string) {
	d := s.daemon()
	d.Program = program
	d.Host = s.host(h.host)
	d.Message = s.str(msg)
	ev := event.Event{Time: h.time, Origin: origin, Kind: event.KindDaemon, Daemon: d}
	if looksLikeAddr(h.host) {
		ev.Dst, _ = parseAddr(h.host)
	}
	return ev, d, d.Message
}

// sniffDaemonSyslog scores a syslog line for the syslog format: 8 for a
// knockd or fwknopd line, 1 for any other line with a syslog header (a
// /var/log/syslog whose first lines come from other programs is still
// syslog).
func sniffDaemonSyslog(line []byte) int {
	c := clock{loc: time.UTC, year: 2000, hourKey: -1}
	var h syslogLine
	c.splitSyslog(line, &h)
	switch {
	case !h.hasTime || len(h.host) == 0:
		return 0
	case isProgram(h.tag, "knockd"), isProgram(h.tag, "fwknopd"):
		return 8
	}
	return 1
}

// isProgram reports whether a syslog tag names prog: "knockd", or a path
// ending in "/knockd" as some journald exports write it.
func isProgram(tag []byte, prog string) bool {
	if len(tag) < len(prog) || string(tag[len(tag)-len(prog):]) != prog {
		return false
	}
	return len(tag) == len(prog) || tag[len(tag)-len(prog)-1] == '/'
}

// trimDaemonMsg removes what carriers add around a message: the space that
// follows "tag:" (RFC 5424 as rsyslog writes it keeps it), the trailing LF
// of knockd's "\n"-terminated messages and rsyslog's "#012" escape of it.
func trimDaemonMsg(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for {
		switch {
		case len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' '):
			b = b[:len(b)-1]
		case bytes.HasSuffix(b, []byte("#012")):
			b = b[:len(b)-4]
		default:
			return b
		}
	}
}

var (
	kdRunning   = []byte(": running command: ")
	kdNonZero   = []byte(": command returned non-zero status code (")
	kdOpen      = []byte(": OPEN SESAME")
	kdCmdTO     = []byte(": command timeout")
	kdStage     = []byte(": Stage ")
	kdSeqTO     = []byte(": sequence timeout (stage ")
	kdStarting  = []byte("starting up, listening on ")
	kdRereading = []byte("re-reading config file: ")
	kdReopening = []byte("re-opening log file: ")
	kdPidFile   = []byte("could not create pid file ")
	kdSection   = []byte("error: section ")
	kdNoMore    = []byte("no more sequences left in the one time sequences file for door ")
	kdDisabling = []byte("error while disabling used one time sequence for door ")
	kdDisable   = []byte(" --> disabling the door")
)

// decodeKnockd decodes one knockd message; h is its split syslog header (or
// the LogFile stamp). line is the record the message came from, for error
// columns.
func (d *syslogDecoder) decodeKnockd(line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	return decodeKnockdMsg(&d.daemons, line, h, origin, dst)
}

func decodeKnockdMsg(s *daemonState, line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	msg := trimDaemonMsg(h.msg)
	what, ok := knockdKind(msg)
	if !ok {
		return dst, nil
	}
	base := len(line) - len(h.msg)
	if base < 0 || !h.hasTime {
		base = 0
	}
	if !h.hasTime {
		return dst, errorf(ReasonBadTime, "", 0, "knockd line without a timestamp")
	}
	// Validate before copying, so a bad line costs nothing from the arena.
	switch what {
	case event.DaemonStage, event.DaemonOpen, event.DaemonCommandTimeout, event.DaemonSequenceTimeout:
		ip, _, _, _, err := splitKnocker(msg, what)
		if err != nil {
			err.Column = base + err.Column
			return dst, err
		}
		if _, ok := parseAddr(ip); !ok {
			return dst, errorf(ReasonBadAddr, "ip", base+1, "knocker address is not an IP address")
		}
	}
	ev, dm, text := s.daemonEvent("knockd", h, msg, origin)
	dm.What = what
	switch what {
	case event.DaemonCommand:
		i := bytes.Index(msg, kdRunning)
		dm.Door = text[:i]
		dm.Command = text[i+len(kdRunning):]
		cmd := msg[i+len(kdRunning):]
		if r0, r1, ok := firewallRule(cmd); ok {
			off := i + len(kdRunning)
			dm.Rule = text[off+r0 : off+r1]
		}
		ev.Src = commandAddr(cmd)
	case event.DaemonCommandFailed:
		i := bytes.Index(msg, kdNonZero)
		dm.Door = text[:i]
		num := msg[i+len(kdNonZero) : len(msg)-1]
		neg := len(num) > 0 && num[0] == '-'
		if neg {
			num = num[1:]
		}
		n, _ := parseUint(num, 1<<31)
		dm.Code = int(n)
		if neg {
			dm.Code = -dm.Code
		}
	case event.DaemonStage, event.DaemonOpen, event.DaemonCommandTimeout, event.DaemonSequenceTimeout:
		ip, name, door, stage, _ := splitKnocker(msg, what)
		ev.Src, _ = parseAddr(ip)
		dm.Door = sub(text, msg, door)
		dm.SrcName = sub(text, msg, name)
		dm.Stage = stage
	case event.DaemonStart:
		dm.Detail = text[len(kdStarting):]
	case event.DaemonReload:
		if bytes.HasPrefix(msg, kdRereading) {
			dm.Detail = text[len(kdRereading):]
		} else {
			dm.Detail = text[len(kdReopening):]
		}
	case event.DaemonConfigError:
		rest := text[len(kdSection):]
		if i := bytes.IndexByte(msg[len(kdSection):], ':'); i >= 0 {
			dm.Door = rest[:i]
			dm.Detail = trimSpaceString(rest[i+1:])
		}
	case event.DaemonDoorDisabled:
		pre := kdNoMore
		if bytes.HasPrefix(msg, kdDisabling) {
			pre = kdDisabling
		}
		rest := msg[len(pre):]
		if i := bytes.Index(rest, kdDisable); i >= 0 {
			dm.Door = text[len(pre) : len(pre)+i]
		}
	}
	return append(dst, ev), nil
}

// sub returns the part of text (a copy of msg) that part views in msg.
func sub(text string, msg, part []byte) string {
	if len(part) == 0 {
		return ""
	}
	off := int(uintptr(unsafe.Pointer(&part[0])) - uintptr(unsafe.Pointer(&msg[0])))
	return text[off : off+len(part)]
}

func trimSpaceString(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// knockdKind classifies a knockd message by its fixed text. "running
// command" is tested first: a command may contain ": Stage " or any other
// suffix text.
func knockdKind(msg []byte) (string, bool) {
	switch {
	case len(msg) == 0:
		return "", false
	case bytes.Index(msg, kdRunning) > 0:
		return event.DaemonCommand, true
	case bytes.Index(msg, kdNonZero) > 0 && msg[len(msg)-1] == ')':
		return event.DaemonCommandFailed, true
	case bytes.HasSuffix(msg, kdOpen):
		return event.DaemonOpen, true
	case bytes.HasSuffix(msg, kdCmdTO):
		return event.DaemonCommandTimeout, true
	case bytes.Contains(msg, kdSeqTO) && msg[len(msg)-1] == ')':
		return event.DaemonSequenceTimeout, true
	case bytes.LastIndex(msg, kdStage) > 0:
		return event.DaemonStage, true
	case bytes.HasPrefix(msg, kdStarting):
		return event.DaemonStart, true
	case string(msg) == "shutting down":
		return event.DaemonStop, true
	case bytes.HasPrefix(msg, kdRereading):
		return event.DaemonReload, true
	case bytes.HasPrefix(msg, kdReopening):
		return event.DaemonReload, true
	case bytes.HasPrefix(msg, kdPidFile),
		string(msg) == "error: command fork failed!",
		bytes.HasPrefix(msg, []byte("error: parsed start command has been truncated")),
		bytes.HasPrefix(msg, []byte("error: parsed stop command has been truncated")):
		return event.DaemonError, true
	case bytes.HasPrefix(msg, kdSection):
		return event.DaemonConfigError, true
	case bytes.HasPrefix(msg, kdNoMore), bytes.HasPrefix(msg, kdDisabling):
		return event.DaemonDoorDisabled, true
	}
	return "", false
}

// splitKnocker splits "<ip>[ (<host>)]: <door>: <suffix>" where the suffix
// is the fixed text of what. The door name may hold ": " itself, so the
// split anchors on the address at the start and the suffix at the end; the
// address ends at the first ": " or " (" (a compressed IPv6 address holds
// colons but never ": ").
func splitKnocker(msg []byte, what string) (ip, name, door []byte, stage int, err *Error) {
	var end int
	switch what {
	case event.DaemonOpen:
		end = len(msg) - len(kdOpen)
	case event.DaemonCommandTimeout:
		end = len(msg) - len(kdCmdTO)
	case event.DaemonStage:
		end = bytes.LastIndex(msg, kdStage)
		num := msg[end+len(kdStage):]
		n, ok := parseUint(num, 1<<20)
		if !ok || n == 0 {
			return nil, nil, nil, 0, errorf(ReasonBadField, "stage", end+len(kdStage)+1, "stage is not a positive number")
		}
		stage = int(n)
	case event.DaemonSequenceTimeout:
		end = bytes.LastIndex(msg, kdSeqTO)
		num := msg[end+len(kdSeqTO) : len(msg)-1]
		n, ok := parseUint(num, 1<<20)
		if !ok {
			return nil, nil, nil, 0, errorf(ReasonBadField, "stage", end+len(kdSeqTO)+1, "stage is not a number")
		}
		stage = int(n)
	}
	head := msg[:end]
	i := 0
	for i < len(head) && head[i] != ' ' && !(head[i] == ':' && i+1 < len(head) && head[i+1] == ' ') {
		i++
	}
	ip = head[:i]
	rest := head[i:]
	if bytes.HasPrefix(rest, []byte(" (")) {
		j := bytes.Index(rest, []byte("): "))
		if j < 0 {
			return nil, nil, nil, 0, errorf(ReasonMalformed, "host", i+1, "unterminated knocker host name")
		}
		name = rest[2:j]
		rest = rest[j+1:]
	}
	if !bytes.HasPrefix(rest, []byte(": ")) || len(rest) < 3 {
		return nil, nil, nil, 0, errorf(ReasonMissingField, "door", i+1, "no door name after the knocker address")
	}
	door = rest[2:]
	if len(ip) == 0 {
		return nil, nil, nil, 0, errorf(ReasonMissingField, "ip", 1, "no knocker address")
	}
	return ip, name, door, stage, nil
}

// firewallRule finds the rule in a firewall command: the arguments after an
// iptables/ip6tables/nft/ufw/firewall-cmd program name (a path or a bare
// name, possibly after sudo or inside sh -c). It returns their byte range.
func firewallRule(cmd []byte) (int, int, bool) {
	i := 0
	for i < len(cmd) {
		for i < len(cmd) && (cmd[i] == ' ' || cmd[i] == '\'' || cmd[i] == '"' || cmd[i] == ';' || cmd[i] == '&' || cmd[i] == '|') {
			i++
		}
		start := i
		for i < len(cmd) && cmd[i] != ' ' && cmd[i] != ';' && cmd[i] != '\'' && cmd[i] != '"' {
			i++
		}
		tok := cmd[start:i]
		if k := bytes.LastIndexByte(tok, '/'); k >= 0 {
			tok = tok[k+1:]
		}
		switch string(tok) {
		case "iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft", "nft", "ufw", "firewall-cmd":
			j := i
			for j < len(cmd) && cmd[j] == ' ' {
				j++
			}
			end := j
			for end < len(cmd) && cmd[end] != ';' && cmd[end] != '&' && cmd[end] != '|' && cmd[end] != '\'' && cmd[end] != '"' {
				end++
			}
			for end > j && cmd[end-1] == ' ' {
				end--
			}
			if end > j {
				return j, end, true
			}
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// commandAddr finds the knocker's address in an expanded knockd command
// (knockd put it there for %IP%; the line itself names no address). An
// address after a source option (-s, --source, --src, saddr, from) wins;
// otherwise the first address in the command. A CIDR suffix is ignored.
func commandAddr(cmd []byte) netip.Addr {
	var first netip.Addr
	prevSource := false
	i := 0
	for i < len(cmd) {
		for i < len(cmd) && isCmdSep(cmd[i]) {
			i++
		}
		start := i
		for i < len(cmd) && !isCmdSep(cmd[i]) {
			i++
		}
		raw := cmd[start:i]
		tok := raw
		if k := bytes.IndexByte(tok, '/'); k > 0 {
			tok = tok[:k]
		}
		if len(tok) > 1 && tok[len(tok)-1] == ':' && tok[len(tok)-2] != ':' {
			tok = tok[:len(tok)-1] // "198.51.100.7:" before more text
		}
		if looksLikeAddr(tok) {
			if ip, ok := parseAddr(tok); ok {
				if prevSource {
					return ip
				}
				if !first.IsValid() {
					first = ip
				}
			}
		}
		switch string(raw) {
		case "-s", "--source", "--src", "saddr", "from", "--source-ip":
			prevSource = true
		default:
			prevSource = false
		}
	}
	return first
}

// looksLikeAddr is a cheap test before parseAddr: netip's error path
// allocates, and most tokens of a command are not addresses.
func looksLikeAddr(b []byte) bool {
	if len(b) < 2 || len(b) > 45 {
		return false
	}
	sep := false
	for _, c := range b {
		switch {
		case c == '.' || c == ':':
			sep = true
		case digit(c), 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return sep
}

func isCmdSep(c byte) bool {
	return c == ' ' || c == '\'' || c == '"' || c == ',' || c == '{' || c == '}' || c == '=' || c == ';' || c == '\t'
}
