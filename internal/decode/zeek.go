package decode

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/valyala/fastjson"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads Zeek's conn.log (formats.md 4.11, conn/main.zeek at
// zeek/zeek@056f9b7a) in its two writer forms: the ASCII writer's TSV, read
// by the #fields header it declares, and LogAscii::use_json=T, read by key.
// A connection becomes one attempt: conn_state says whether the responder
// let it in, and for single-packet attempts orig_ip_bytes betrays the
// sending tool.

// zeekLateness is how far out of time order conn.log records come. Zeek
// writes a record when it removes the connection, stamped with the time of
// its first packet: an unanswered or reset TCP attempt 5 s later
// (tcp_attempt_delay, tcp_reset_delay), a UDP or ICMP flow after 1 min of
// silence (udp_ and icmp_inactivity_timeout, init-bare.zeek). Two minutes
// covers every knock with margin for the writer's buffering. A connection
// that lasts longer (the SSH session after a knock) still comes later than
// that; it reaches the detectors out of order.
const zeekLateness = 2 * time.Minute

// zeekConnTSVFormat is conn.log as the ASCII writer writes it.
var zeekConnTSVFormat = Format{
	Name:    "zeek-conn-tsv",
	Summary: "Zeek conn.log, tab-separated with its #fields header (ASCII writer)",
	Sniff:   sniffZeekTSV,
	New:     func(Options) Decoder { return newZeekTSVDecoder() },
	// The header sets the column layout for the lines after it.
	Parallel: false,
	Lateness: zeekLateness,
	Header:   true,
}

// zeekConnJSONFormat is conn.log written with LogAscii::use_json=T.
var zeekConnJSONFormat = Format{
	Name:     "zeek-conn-json",
	Summary:  "Zeek conn.log as JSON lines (LogAscii::use_json=T; ts as epoch seconds, milliseconds or ISO 8601)",
	Sniff:    sniffZeekJSON,
	New:      func(Options) Decoder { return &zeekJSONDecoder{} },
	Parallel: true,
	Lateness: zeekLateness,
}

var (
	tokZeekFields    = []byte("#fields")
	tokZeekPath      = []byte("#path")
	tokZeekSeparator = []byte("#separator ")
	tokIDOrigH       = []byte("id.orig_h")
	tokConnState     = []byte("conn_state")
	tokJSONIDOrigH   = []byte(`"id.orig_h"`)
	tokJSONConnState = []byte(`"conn_state"`)
)

// sniffHeader is the score of a header line that names a format's own
// columns: it outweighs any number of lines (32 are sampled) that merely
// contain another format's text, such as a netfilter line quoted in a field.
const sniffHeader = 1000

func sniffZeekTSV(line []byte) int {
	switch {
	case bytes.HasPrefix(line, tokZeekFields) && bytes.Contains(line, tokIDOrigH) && bytes.Contains(line, tokConnState):
		return sniffHeader
	case bytes.HasPrefix(line, tokZeekPath) && string(bytes.TrimSpace(line[len(tokZeekPath):])) == "conn":
		return sniffHeader
	case bytes.HasPrefix(line, tokZeekSeparator):
		return 5
	}
	return 0
}

// sniffZeekJSON scores a conn.log JSON record above a CEF (12) or netfilter
// (10) line, which its fields never hold but might quote.
func sniffZeekJSON(line []byte) int {
	if len(line) > 0 && line[0] == '{' && bytes.Contains(line, tokJSONIDOrigH) && bytes.Contains(line, tokJSONConnState) {
		return 20
	}
	return 0
}

// zeekConn holds the conn.log fields knockwatch reads, as text (numbers
// from JSON as their literal text).
type zeekConn struct {
	ts, origH, origP, respH, respP, proto []byte
	state, history, origPkts, origIPBytes []byte
	ipProto                               []byte
}

// zeek column roles.
const (
	zNone uint8 = iota
	zTS
	zOrigH
	zOrigP
	zRespH
	zRespP
	zProto
	zState
	zHistory
	zOrigPkts
	zOrigIPBytes
	zIPProto
)

func zeekRole(name []byte) uint8 {
	switch string(name) {
	case "ts":
		return zTS
	case "id.orig_h":
		return zOrigH
	case "id.orig_p":
		return zOrigP
	case "id.resp_h":
		return zRespH
	case "id.resp_p":
		return zRespP
	case "proto":
		return zProto
	case "conn_state":
		return zState
	case "history":
		return zHistory
	case "orig_pkts":
		return zOrigPkts
	case "orig_ip_bytes":
		return zOrigIPBytes
	case "ip_proto":
		return zIPProto
	}
	return zNone
}

func (c *zeekConn) set(role uint8, v []byte) {
	switch role {
	case zTS:
		c.ts = v
	case zOrigH:
		c.origH = v
	case zOrigP:
		c.origP = v
	case zRespH:
		c.respH = v
	case zRespP:
		c.respP = v
	case zProto:
		c.proto = v
	case zState:
		c.state = v
	case zHistory:
		c.history = v
	case zOrigPkts:
		c.origPkts = v
	case zOrigIPBytes:
		c.origIPBytes = v
	case zIPProto:
		c.ipProto = v
	}
}

// zeekEvent turns a connection into an attempt. line is the record the
// values were sliced from (for error columns), nil when they were not.
func zeekEvent(c *zeekConn, line []byte, origin event.Origin) (event.Event, error) {
	ev := event.Event{Origin: origin, Kind: event.KindAttempt}
	col := func(v []byte) int {
		if line == nil {
			return 0
		}
		return colIn(line, v)
	}
	for _, req := range [...]struct {
		v    []byte
		name string
	}{{c.ts, "ts"}, {c.origH, "id.orig_h"}, {c.respH, "id.resp_h"}, {c.proto, "proto"}} {
		if req.v == nil {
			return ev, errorf(ReasonMissingField, req.name, 0, "")
		}
	}
	t, ok := zeekTime(c.ts)
	if !ok {
		return ev, errorf(ReasonBadTime, "ts", col(c.ts), "not epoch seconds, epoch milliseconds or ISO 8601")
	}
	ev.Time = t
	if ev.Src, ok = parseAddr(c.origH); !ok {
		return ev, errorf(ReasonBadAddr, "id.orig_h", col(c.origH), "not an IP address")
	}
	if ev.Dst, ok = parseAddr(c.respH); !ok {
		return ev, errorf(ReasonBadAddr, "id.resp_h", col(c.respH), "not an IP address")
	}
	// proto is tcp, udp, icmp (for ICMPv6 too) or unknown_transport;
	// ip_proto, where the log has it, is the exact number.
	if c.ipProto != nil {
		n, ok := parseUint(c.ipProto, 255)
		if !ok || n == 0 {
			return ev, errorf(ReasonBadProto, "ip_proto", col(c.ipProto), "not a protocol number")
		}
		ev.Proto = event.Proto(n)
	}
	if p, ok := event.ParseProto(c.proto); ok {
		if p == event.ProtoICMP && ev.Src.Is6() {
			p = event.ProtoICMPv6
		}
		if ev.Proto == 0 {
			ev.Proto = p
		}
	} else if string(c.proto) != "unknown_transport" {
		return ev, errorf(ReasonBadProto, "proto", col(c.proto), "not tcp, udp, icmp or unknown_transport")
	}
	if ev.Proto == 0 {
		return ev, errorf(ReasonMissingField, "ip_proto", 0, "unknown_transport without ip_proto")
	}
	icmp := ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6
	portMax := uint64(65535)
	if icmp {
		portMax = 255 // id.orig_p is the ICMP type, id.resp_p the code
	}
	var sp, dp uint64
	if c.origP != nil {
		if sp, ok = parseUint(c.origP, portMax); !ok {
			return ev, errorf(ReasonBadPort, "id.orig_p", col(c.origP), "not a port number")
		}
	}
	if c.respP != nil {
		if dp, ok = parseUint(c.respP, portMax); !ok {
			return ev, errorf(ReasonBadPort, "id.resp_p", col(c.respP), "not a port number")
		}
	} else if ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP {
		return ev, errorf(ReasonMissingField, "id.resp_p", 0, "")
	}
	if icmp {
		ev.ICMPType, ev.ICMPCode = uint8(sp), uint8(dp)
	} else {
		ev.SrcPort, ev.DstPort = uint16(sp), uint16(dp)
	}
	if c.state != nil {
		switch string(c.state) {
		case "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH":
			ev.Action = event.ActionDenied
		case "SF", "S1", "S2", "S3", "RSTO", "RSTR":
			ev.Action = event.ActionAllowed
		default:
			return ev, errorf(ReasonBadField, "conn_state", col(c.state), "unknown connection state")
		}
	}
	if ev.Proto == event.ProtoTCP {
		// The record stands for the connection's opening, so its flags are
		// those of the originator's first packet: the first upper-case
		// history letter (the letters record each kind of packet in the
		// order first seen; lower case is the responder). "S" is a SYN, as
		// for S0, REJ, SF and RSTO alike; "D" or "A" first is a connection
		// picked up midstream.
		ev.TCPFlags = zeekFirstFlags(c.history)
		if c.history == nil {
			ev.Flags |= event.FlagNoTCPFlags
		}
	}
	var pkts uint64
	if c.origPkts != nil {
		if pkts, ok = parseUint(c.origPkts, 1<<63); !ok {
			return ev, errorf(ReasonBadField, "orig_pkts", col(c.origPkts), "not a count")
		}
		ev.Count = uint32(min(pkts, 1<<32-1))
	}
	if c.origIPBytes != nil && pkts == 1 {
		n, ok := parseUint(c.origIPBytes, 1<<63)
		if !ok {
			return ev, errorf(ReasonBadField, "orig_ip_bytes", col(c.origIPBytes), "not a count")
		}
		ev.IPLen = uint16(min(n, 65535))
		if hdr := ipHeaderLen(ev.Src) + 8; ev.Proto == event.ProtoUDP && n >= hdr {
			ev.PayloadLen = uint16(min(n-hdr, 65535))
		}
		ev.Shape = sizeShape(&ev)
	}
	return ev, nil
}

// sizeShape is packetShape's rules for records that show a lone packet's
// IP length but neither its TCP window nor DF (Zeek's orig_ip_bytes of a
// one-packet connection, a one-packet flow record): a bare SYN of 40+24
// bytes is nmap's (MSS option only), of 40 bytes masscan's (no options;
// hping3 and zmap send that length too, but without the window the length
// cannot tell them apart), of 48 bytes or more an OS stack's (Linux 60,
// Windows 52, macOS 64); a UDP datagram with one payload byte is the knock
// client's. The sizes are those of packetShape in netfilter.go, which
// cannot be called as is: its nmap and masscan rules need the window.
func sizeShape(ev *event.Event) event.Shape {
	hdr := uint16(ipHeaderLen(ev.Src))
	switch ev.Proto {
	case event.ProtoTCP:
		if ev.TCPFlags != event.FlagSYN {
			return event.ShapeUnknown
		}
		switch {
		case ev.IPLen == hdr+24:
			return event.ShapeNmap
		case ev.IPLen == hdr+20:
			return event.ShapeMasscan
		case ev.IPLen >= hdr+28:
			return event.ShapeOSStack
		}
	case event.ProtoUDP:
		if ev.IPLen == hdr+8+1 {
			return event.ShapeKnockUDP
		}
	}
	return event.ShapeUnknown
}

// zeekFirstFlags maps the first originator letter of a conn.log history
// to the TCP flags of that packet.
func zeekFirstFlags(history []byte) event.TCPFlags {
	for _, h := range history {
		switch h {
		case 'S':
			return event.FlagSYN
		case 'H':
			return event.FlagSYN | event.FlagACK
		case 'A', 'D':
			return event.FlagACK
		case 'F':
			return event.FlagFIN
		case 'R':
			return event.FlagRST
		case 'Q': // SYN with FIN or RST
			return event.FlagSYN | event.FlagFIN
		}
	}
	return 0
}

// ipHeaderLen is the length of an IP header without options.
func ipHeaderLen(a netip.Addr) uint64 {
	if a.Is4() {
		return 20
	}
	return 40
}

// zeekTime reads ts in the forms Zeek writes: epoch seconds with a
// fraction (TSV, JSON's default JSON::TS_EPOCH), integer milliseconds
// (JSON::TS_MILLIS) or ISO 8601 (JSON::TS_ISO8601).
func zeekTime(b []byte) (int64, bool) {
	if len(b) >= 20 && b[4] == '-' {
		return parseISOTime(b)
	}
	n := 0
	for n < len(b) && digit(b[n]) {
		n++
	}
	if n == len(b) && n >= 12 && n <= 14 {
		ms, ok := parseUint(b, maxEpochSec*1000)
		return int64(ms) * 1e6, ok
	}
	return parseEpochSeconds(b)
}

// zeekTSVDecoder reads the ASCII writer's output: header lines (#separator,
// #unset_field, #empty_field, #fields, …) set how the lines after them are
// read, so one stream needs one decoder, in order. Logs concatenated from
// several files (cat conn.*.log) bring a header each, and each re-reads the
// layout.
type zeekTSVDecoder struct {
	sep   []byte
	unset []byte
	empty []byte
	// roles[i] is what column i holds; nil until a usable #fields line.
	roles []uint8
	// headerErr is why the last #fields line was not usable.
	headerErr string
	conn      zeekConn
}

func newZeekTSVDecoder() *zeekTSVDecoder {
	return &zeekTSVDecoder{sep: []byte{'\t'}, unset: []byte("-"), empty: []byte("(empty)")}
}

var _ Decoder = (*zeekTSVDecoder)(nil)

// Decode reads one header or record line.
func (d *zeekTSVDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if len(line) > 0 && line[0] == '#' {
		return dst, d.header(line)
	}
	if d.roles == nil {
		detail := "no #fields header before the first record"
		if d.headerErr != "" {
			detail = d.headerErr
		}
		return dst, errorf(ReasonBadHeader, "#fields", 0, detail)
	}
	c := &d.conn
	*c = zeekConn{}
	rest := line
	n := 0
	for {
		i := bytes.Index(rest, d.sep)
		v := rest
		if i >= 0 {
			v = rest[:i]
		}
		if n < len(d.roles) {
			if r := d.roles[n]; r != zNone && !bytes.Equal(v, d.unset) && !bytes.Equal(v, d.empty) {
				c.set(r, v)
			}
		}
		n++
		if i < 0 {
			break
		}
		rest = rest[i+len(d.sep):]
	}
	if n != len(d.roles) {
		r := ReasonMalformed
		if n < len(d.roles) {
			r = ReasonTruncated
		}
		return dst, errorf(r, "", 0, fmt.Sprintf("%d fields, the #fields header declares %d", n, len(d.roles)))
	}
	ev, err := zeekEvent(c, line, origin)
	if err != nil {
		return dst, err
	}
	return append(dst, ev), nil
}

// header reads a "#directive<sep>value" line. #separator alone is written
// with a space, its value escaped as \xNN.
func (d *zeekTSVDecoder) header(line []byte) error {
	if bytes.HasPrefix(line, tokZeekSeparator) {
		sep := unescapeZeek(line[len(tokZeekSeparator):])
		if len(sep) == 0 {
			return errorf(ReasonBadHeader, "#separator", len(tokZeekSeparator)+1, "empty separator")
		}
		d.sep = sep
		return nil
	}
	i := bytes.Index(line, d.sep)
	if i < 0 {
		return nil // "#close" without a value, or a comment
	}
	name, val := line[:i], line[i+len(d.sep):]
	switch string(name) {
	case "#unset_field":
		d.unset = unescapeZeek(val)
	case "#empty_field":
		d.empty = unescapeZeek(val)
	case "#path":
		if string(val) != "conn" {
			d.roles = nil
			d.headerErr = "the log is " + string(val) + ".log, not conn.log"
			return errorf(ReasonBadHeader, "#path", i+len(d.sep)+1, d.headerErr)
		}
		d.headerErr = ""
	case "#fields":
		return d.fields(line, val)
	}
	return nil
}

func (d *zeekTSVDecoder) fields(line, val []byte) error {
	if d.headerErr != "" {
		return nil // #path already said this is not conn.log
	}
	roles := d.roles[:0]
	var seen [zIPProto + 1]bool
	for {
		i := bytes.Index(val, d.sep)
		name := val
		if i >= 0 {
			name = val[:i]
		}
		r := zeekRole(name)
		if seen[r] && r != zNone {
			d.roles = nil
			d.headerErr = "column " + string(name) + " declared twice"
			return errorf(ReasonBadHeader, "#fields", colIn(line, name), d.headerErr)
		}
		seen[r] = true
		roles = append(roles, r)
		if i < 0 {
			break
		}
		val = val[i+len(d.sep):]
	}
	for _, need := range [...]struct {
		r    uint8
		name string
	}{{zTS, "ts"}, {zOrigH, "id.orig_h"}, {zOrigP, "id.orig_p"}, {zRespH, "id.resp_h"}, {zRespP, "id.resp_p"}, {zProto, "proto"}} {
		if !seen[need.r] {
			d.roles = nil
			d.headerErr = "the #fields header has no " + need.name + " column"
			return errorf(ReasonBadHeader, "#fields", 0, d.headerErr)
		}
	}
	d.roles = roles
	return nil
}

// unescapeZeek decodes the \xNN escapes of a header value into a new slice
// (headers are rare; the copy outlives the line).
func unescapeZeek(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			h, ok1 := unhex(b[i+2])
			l, ok2 := unhex(b[i+3])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// zeekJSONDecoder reads one JSON object per line. Unset fields are absent;
// a record of another log (its "_path" is not "conn", as Zeek writes it when
// logs share one stream) yields nothing.
type zeekJSONDecoder struct {
	p    fastjson.Parser
	conn zeekConn
	num  [6][32]byte
}

var _ Decoder = (*zeekJSONDecoder)(nil)

// Decode reads one conn.log JSON record.
func (d *zeekJSONDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	v, err := d.p.ParseBytes(line)
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not JSON: "+err.Error())
	}
	o, err := v.Object()
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not a JSON object")
	}
	c := &d.conn
	*c = zeekConn{}
	var bad string
	otherLog := false
	nums := 0
	o.Visit(func(key []byte, v *fastjson.Value) {
		if bad != "" {
			return
		}
		if string(key) == "_path" {
			if s, _ := v.StringBytes(); string(s) != "conn" {
				otherLog = true
			}
			return
		}
		r := zeekRole(key)
		if r == zNone {
			return
		}
		var buf []byte
		if nums < len(d.num) {
			buf = d.num[nums][:0]
		}
		t, ok := jsonText(v, buf)
		if !ok {
			bad = string(key)
			return
		}
		if v.Type() == fastjson.TypeNumber {
			nums++
		}
		c.set(r, t)
	})
	if otherLog {
		return dst, nil
	}
	if bad != "" {
		return dst, errorf(ReasonBadField, bad, 0, "not a string or number")
	}
	ev, err := zeekEvent(c, nil, origin)
	if err != nil {
		return dst, err
	}
	return append(dst, ev), nil
}

// jsonText returns a JSON string's (unescaped) bytes or a number's literal
// text, appended to buf; nil for null. It reports false for objects,
// arrays and booleans. The bytes are valid until the parser's next parse.
func jsonText(v *fastjson.Value, buf []byte) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if b == nil {
			b = []byte{}
		}
		return b, true
	case fastjson.TypeNumber:
		return v.MarshalTo(buf), true
	case fastjson.TypeNull:
		return nil, true
	}
	return nil, false
}
