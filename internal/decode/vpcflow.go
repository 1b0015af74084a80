package decode

import (
	"bytes"
	"fmt"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads AWS VPC Flow Logs (formats.md 4.8;
// https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html):
// space-separated fields, one record per 5-tuple and aggregation window.
// The default format, version 2, has fourteen fields; a custom format
// chooses its fields and their order, and the S3 delivery writes them as
// the header line of each file, which is how "vpcflow-custom" learns them.
// A record stands for all the packets of its window, so the order of the
// knocks inside a window is lost: events carry FlagUnordered, and Count
// says how many packets the record stands for.

// vpcFlowLateness is how far out of order records come within one file.
// A record is written when its aggregation window (at most 10 minutes)
// closes, and its start may trail the first packet by up to 60 s (AWS
// documentation of "start"); records of different windows and interfaces
// interleave within that span.
const vpcFlowLateness = 11 * time.Minute

// vpcFlowFormat is the default (v2) VPC flow log record.
var vpcFlowFormat = Format{
	Name:     "vpcflow",
	Summary:  "AWS VPC Flow Logs, default format version 2 (14 space-separated fields, ACCEPT/REJECT)",
	Sniff:    sniffVPCFlow,
	New:      func(Options) Decoder { return &vpcFlowDecoder{layout: &vpcDefaultLayout} },
	Parallel: true,
	Lateness: vpcFlowLateness,
}

// vpcFlowCustomFormat is a custom format whose header line names the
// fields. The header starts the file, so a file is read in one piece.
var vpcFlowCustomFormat = Format{
	Name:     "vpcflow-custom",
	Summary:  "AWS VPC Flow Logs in a custom format, fields named by the header line of the S3 delivery (tcp-flags, pkt-srcaddr …)",
	Sniff:    sniffVPCFlowCustom,
	New:      func(Options) Decoder { return &vpcFlowDecoder{custom: true} },
	Parallel: false,
	Lateness: vpcFlowLateness,
	Header:   true,
}

var vpcFlowHeader = []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")

func sniffVPCFlow(line []byte) int {
	if bytes.Equal(line, vpcFlowHeader) {
		return sniffHeader
	}
	var f [vpcMaxFields][]byte
	if splitVPC(line, &f) == vpcFields && string(f[0]) == "2" && bytes.HasPrefix(f[2], []byte("eni-")) {
		switch string(f[13]) {
		case "OK", "NODATA", "SKIPDATA":
			return 15
		}
	}
	return 0
}

func sniffVPCFlowCustom(line []byte) int {
	if bytes.Equal(line, vpcFlowHeader) {
		return 0
	}
	if _, err := parseVPCHeader(line); err == nil {
		return sniffHeader
	}
	return 0
}

const (
	vpcFields = 14
	// vpcMaxFields bounds a custom format (AWS defines about 40 fields).
	vpcMaxFields = 64
)

// The fields a decoder reads, by their AWS names.
const (
	vpcVersion = iota
	vpcSrcAddr
	vpcDstAddr
	vpcSrcPort
	vpcDstPort
	vpcProtocol
	vpcPackets
	vpcBytes
	vpcStart
	vpcEnd
	vpcAction
	vpcLogStatus
	vpcTCPFlags
	vpcPktSrcAddr
	vpcPktDstAddr
	vpcKnown
)

var vpcKnownNames = [vpcKnown]string{"version", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "action", "log-status", "tcp-flags", "pkt-srcaddr", "pkt-dstaddr"}

// vpcRequired are the fields a knock cannot be read without.
var vpcRequired = []int{vpcSrcAddr, vpcDstAddr, vpcSrcPort, vpcDstPort, vpcProtocol, vpcStart, vpcAction}

// vpcLayout says where each field a decoder reads is in a record.
type vpcLayout struct {
	n     int            // fields per record
	col   [vpcKnown]int8 // index of each known field, -1 if absent
	names [vpcMaxFields]string
}

// vpcDefaultLayout is the version 2 format.
var vpcDefaultLayout = func() vpcLayout {
	l, err := parseVPCHeader(vpcFlowHeader)
	if err != nil {
		panic(err)
	}
	return *l
}()

// parseVPCHeader reads a header line: the format's field names, each once,
// with at least the ones a knock needs. Names this decoder does not use
// (vpc-id, az-id, ecs-…) are kept for errors and skipped.
func parseVPCHeader(line []byte) (*vpcLayout, error) {
	l := &vpcLayout{}
	for i := range l.col {
		l.col[i] = -1
	}
	var f [vpcMaxFields][]byte
	n := splitVPC(line, &f)
	if n > vpcMaxFields {
		return nil, errorf(ReasonBadHeader, "", 0, fmt.Sprintf("more than %d fields", vpcMaxFields))
	}
	l.n = n
	for i := range n {
		name := f[i]
		if len(name) == 0 {
			return nil, errorf(ReasonBadHeader, "", colIn(line, name), "an empty field name (two spaces)")
		}
		for _, c := range name {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return nil, errorf(ReasonBadHeader, "", colIn(line, name), fmt.Sprintf("%q is not a flow log field name", name))
			}
		}
		l.names[i] = string(name)
		for k, known := range vpcKnownNames {
			if string(name) == known {
				if l.col[k] >= 0 {
					return nil, errorf(ReasonBadHeader, known, colIn(line, name), "named twice")
				}
				l.col[k] = int8(i)
			}
		}
	}
	for _, k := range vpcRequired {
		if l.col[k] < 0 {
			return nil, errorf(ReasonBadHeader, vpcKnownNames[k], 0, "the format lacks a field a knock needs")
		}
	}
	return l, nil
}

// vpcHeaderShaped reports whether line can only be a header: every field
// is a name (lower-case letters, digits, hyphens, at least one letter).
// A record cannot be: its start field is all digits. Records may start
// with a letter too (vpc-id first), so the first byte does not tell.
func vpcHeaderShaped(line []byte) bool {
	letter := false
	for _, c := range line {
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c == ' ':
			if !letter {
				return false
			}
			letter = false
		case c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return letter
}

// vpcNameFirst reports whether line starts with a field name (letters and
// hyphens): before any header, such a line is a header to report on, not
// a record.
func vpcNameFirst(line []byte) bool {
	i := 0
	for i < len(line) && (line[i] >= 'a' && line[i] <= 'z' || line[i] == '-') {
		i++
	}
	return i > 0 && (i == len(line) || line[i] == ' ')
}

// splitVPC splits a record on single spaces into f and returns the number
// of fields found (more than len(f) is reported as len(f)+1).
func splitVPC(line []byte, f *[vpcMaxFields][]byte) int {
	n := 0
	for {
		i := bytes.IndexByte(line, ' ')
		if n == len(f) {
			return n + 1
		}
		if i < 0 {
			f[n] = line
			return n + 1
		}
		f[n] = line[:i]
		n++
		line = line[i+1:]
	}
}

// vpcFlowDecoder reads records laid out as layout says; a custom one
// learns the layout from the header line.
type vpcFlowDecoder struct {
	layout *vpcLayout
	custom bool
	// f holds a record's fields; kept here, as zeroing 64 slice headers
	// per record on the stack costs a fifth of the decode time.
	f [vpcMaxFields][]byte
}

var _ Decoder = (*vpcFlowDecoder)(nil)

// Decode reads one flow record. The header line, and records of windows
// with no traffic (NODATA) or with records AWS had to skip (SKIPDATA),
// yield no event.
func (d *vpcFlowDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if vpcHeaderShaped(line) || (d.custom && d.layout == nil && vpcNameFirst(line)) {
		if !d.custom {
			if bytes.Equal(line, vpcFlowHeader) {
				return dst, nil
			}
			return dst, errorf(ReasonBadHeader, "", 0, "a custom flow log format: read it with --format vpcflow-custom")
		}
		l, err := parseVPCHeader(line)
		if err != nil {
			return dst, err
		}
		d.layout = l
		return dst, nil
	}
	l := d.layout
	if l == nil {
		return dst, errorf(ReasonBadHeader, "", 0, "a record before the header line that names the fields")
	}
	f := &d.f
	switch n := splitVPC(line, f); {
	case n < l.n:
		return dst, errorf(ReasonTruncated, l.names[n], 0, fmt.Sprintf("the format has %d fields", l.n))
	case n > l.n:
		return dst, errorf(ReasonMalformed, "", 0, fmt.Sprintf("more than the %d fields of the format", l.n))
	}
	// get returns a known field, nil when the format lacks it.
	get := func(k int) []byte {
		if i := l.col[k]; i >= 0 {
			return f[i]
		}
		return nil
	}
	col := func(k int) int { return colIn(line, f[l.col[k]]) }
	if !d.custom && string(f[0]) != "2" {
		return dst, errorf(ReasonBadField, "version", 1, "only the default version 2 format is read")
	}
	if st := get(vpcLogStatus); st != nil {
		switch string(st) {
		case "OK":
		case "NODATA", "SKIPDATA":
			return dst, nil
		default:
			return dst, errorf(ReasonBadField, "log-status", col(vpcLogStatus), "not OK, NODATA or SKIPDATA")
		}
	}
	ev := event.Event{Origin: origin, Kind: event.KindAttempt, Flags: event.FlagUnordered}
	var ok bool
	// The packet-level addresses are the traffic's own, where a NAT
	// gateway or a middlebox put its address in srcaddr or dstaddr.
	srcK, dstK := vpcSrcAddr, vpcDstAddr
	if v := get(vpcPktSrcAddr); v != nil && string(v) != "-" {
		srcK = vpcPktSrcAddr
	}
	if v := get(vpcPktDstAddr); v != nil && string(v) != "-" {
		dstK = vpcPktDstAddr
	}
	if ev.Src, ok = parseAddr(get(srcK)); !ok {
		return dst, errorf(ReasonBadAddr, vpcKnownNames[srcK], col(srcK), "not an IP address")
	}
	if ev.Dst, ok = parseAddr(get(dstK)); !ok {
		return dst, errorf(ReasonBadAddr, vpcKnownNames[dstK], col(dstK), "not an IP address")
	}
	sp, ok := parseUint(get(vpcSrcPort), 65535)
	if !ok {
		return dst, errorf(ReasonBadPort, "srcport", col(vpcSrcPort), "not a port number")
	}
	dp, ok := parseUint(get(vpcDstPort), 65535)
	if !ok {
		return dst, errorf(ReasonBadPort, "dstport", col(vpcDstPort), "not a port number")
	}
	proto, ok := parseUint(get(vpcProtocol), 255)
	if !ok || proto == 0 { // 0 (HOPOPT) is no transport, and stands for "unknown" in an event
		return dst, errorf(ReasonBadProto, "protocol", col(vpcProtocol), "not an IANA protocol number of a transport")
	}
	ev.Proto = event.Proto(proto)
	if ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP {
		ev.SrcPort, ev.DstPort = uint16(sp), uint16(dp)
	}
	flags, hasFlags := event.TCPFlags(0), false
	if v := get(vpcTCPFlags); v != nil && ev.Proto == event.ProtoTCP {
		bits, ok := parseUint(v, 255)
		if !ok {
			return dst, errorf(ReasonBadField, "tcp-flags", col(vpcTCPFlags), "not a flag bitmask")
		}
		flags, hasFlags = vpcTCPFlagsOf(bits), true
	}
	if ev.Proto == event.ProtoTCP && !hasFlags {
		ev.Flags |= event.FlagNoTCPFlags
	}
	pkts := uint64(1)
	if v := get(vpcPackets); v != nil {
		if pkts, ok = parseUint(v, 1<<63); !ok {
			return dst, errorf(ReasonBadField, "packets", col(vpcPackets), "not a count")
		}
	}
	ev.Count = uint32(min(pkts, 1<<32-1))
	bytesN, hasBytes := uint64(0), false
	if v := get(vpcBytes); v != nil {
		if bytesN, ok = parseUint(v, 1<<63); !ok {
			return dst, errorf(ReasonBadField, "bytes", col(vpcBytes), "not a count")
		}
		hasBytes = true
	}
	start, ok := parseUint(get(vpcStart), maxEpochSec)
	if !ok || start == 0 {
		return dst, errorf(ReasonBadTime, "start", col(vpcStart), "not Unix seconds")
	}
	if v := get(vpcEnd); v != nil {
		end, ok := parseUint(v, maxEpochSec)
		if !ok || end < start {
			return dst, errorf(ReasonBadTime, "end", col(vpcEnd), "not Unix seconds at or after start")
		}
	}
	ev.Time = int64(start) * int64(time.Second)
	switch string(get(vpcAction)) {
	case "ACCEPT":
		ev.Action = event.ActionAllowed
	case "REJECT":
		ev.Action = event.ActionDenied
	default:
		return dst, errorf(ReasonBadField, "action", col(vpcAction), "not ACCEPT or REJECT")
	}
	ev.TCPFlags = flags
	// A lone packet's length is the record's bytes. A single rejected TCP
	// packet from a source is the SYN of an attempt (nothing else is sent
	// before the handshake), so its length shows the tool as in Zeek's
	// one-packet connections.
	if pkts == 1 && hasBytes {
		ev.IPLen = uint16(min(bytesN, 65535))
		switch {
		case ev.Proto == event.ProtoTCP && hasFlags:
			if flags == event.FlagSYN {
				ev.Shape = sizeShape(&ev)
			}
		case ev.Proto == event.ProtoTCP && ev.Action == event.ActionDenied:
			ev.TCPFlags = event.FlagSYN
			ev.Shape = sizeShape(&ev)
			ev.TCPFlags = 0 // the format does not show flags; the SYN was assumed for the shape only
		case ev.Proto == event.ProtoUDP:
			if hdr := ipHeaderLen(ev.Src) + 8; bytesN >= hdr {
				ev.PayloadLen = uint16(min(bytesN-hdr, 65535))
			}
			ev.Shape = sizeShape(&ev)
		}
	}
	return append(dst, ev), nil
}

// vpcTCPFlagsOf reads the tcp-flags field: the OR of the flags seen in the
// window, of which AWS records FIN (1), SYN (2), RST (4) and SYN-ACK (18).
func vpcTCPFlagsOf(bits uint64) event.TCPFlags {
	var f event.TCPFlags
	if bits&1 != 0 {
		f |= event.FlagFIN
	}
	if bits&2 != 0 {
		f |= event.FlagSYN
	}
	if bits&4 != 0 {
		f |= event.FlagRST
	}
	if bits&16 != 0 {
		f |= event.FlagACK
	}
	return f
}
