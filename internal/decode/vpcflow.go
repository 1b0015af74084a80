package decode

import (
	"bytes"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads AWS VPC Flow Logs in the default format, version 2
// (formats.md 4.8; https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html):
// fourteen space-separated fields per record, one record per 5-tuple and
// aggregation window. A record stands for all the packets of its window, so
// the order of the knocks inside a window is lost: events carry
// FlagUnordered, and Count says how many packets the record stands for.

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
	New:      func(Options) Decoder { return vpcFlowDecoder{} },
	Parallel: true,
	Lateness: vpcFlowLateness,
}

var vpcFlowHeader = []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")

func sniffVPCFlow(line []byte) int {
	if bytes.Equal(line, vpcFlowHeader) {
		return sniffHeader
	}
	var f [vpcFields][]byte
	if splitVPC(line, &f) == vpcFields && string(f[0]) == "2" && bytes.HasPrefix(f[2], []byte("eni-")) {
		switch string(f[13]) {
		case "OK", "NODATA", "SKIPDATA":
			return 15
		}
	}
	return 0
}

const vpcFields = 14

// vpcFlowNames names the fields, for errors.
var vpcFlowNames = [vpcFields]string{"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "action", "log-status"}

// splitVPC splits a record on single spaces into f and returns the number
// of fields found (more than len(f) is reported as len(f)+1).
func splitVPC(line []byte, f *[vpcFields][]byte) int {
	n := 0
	for {
		i := bytes.IndexByte(line, ' ')
		if n == vpcFields {
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

type vpcFlowDecoder struct{}

var _ Decoder = vpcFlowDecoder{}

// Decode reads one flow record. The header line, and records of windows
// with no traffic (NODATA) or with records AWS had to skip (SKIPDATA),
// yield no event.
func (vpcFlowDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if bytes.HasPrefix(line, []byte("version ")) {
		if bytes.Equal(line, vpcFlowHeader) {
			return dst, nil
		}
		return dst, errorf(ReasonBadHeader, "", 0, "a custom flow log format; only the default version 2 format is read")
	}
	var f [vpcFields][]byte
	switch n := splitVPC(line, &f); {
	case n < vpcFields:
		return dst, errorf(ReasonTruncated, vpcFlowNames[n], 0, "a default-format record has 14 fields")
	case n > vpcFields:
		return dst, errorf(ReasonMalformed, "", 0, "more than the 14 fields of the default format")
	}
	col := func(i int) int { return colIn(line, f[i]) }
	if string(f[0]) != "2" {
		return dst, errorf(ReasonBadField, "version", 1, "only the default version 2 format is read")
	}
	switch string(f[13]) {
	case "OK":
	case "NODATA", "SKIPDATA":
		return dst, nil
	default:
		return dst, errorf(ReasonBadField, "log-status", col(13), "not OK, NODATA or SKIPDATA")
	}
	ev := event.Event{Origin: origin, Kind: event.KindAttempt, Flags: event.FlagUnordered}
	var ok bool
	if ev.Src, ok = parseAddr(f[3]); !ok {
		return dst, errorf(ReasonBadAddr, "srcaddr", col(3), "not an IP address")
	}
	if ev.Dst, ok = parseAddr(f[4]); !ok {
		return dst, errorf(ReasonBadAddr, "dstaddr", col(4), "not an IP address")
	}
	sp, ok := parseUint(f[5], 65535)
	if !ok {
		return dst, errorf(ReasonBadPort, "srcport", col(5), "not a port number")
	}
	dp, ok := parseUint(f[6], 65535)
	if !ok {
		return dst, errorf(ReasonBadPort, "dstport", col(6), "not a port number")
	}
	proto, ok := parseUint(f[7], 255)
	if !ok || proto == 0 { // 0 (HOPOPT) is no transport, and stands for "unknown" in an event
		return dst, errorf(ReasonBadProto, "protocol", col(7), "not an IANA protocol number of a transport")
	}
	ev.Proto = event.Proto(proto)
	if ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP {
		ev.SrcPort, ev.DstPort = uint16(sp), uint16(dp)
	}
	if ev.Proto == event.ProtoTCP {
		ev.Flags |= event.FlagNoTCPFlags // only custom formats have tcp-flags
	}
	pkts, ok := parseUint(f[8], 1<<63)
	if !ok {
		return dst, errorf(ReasonBadField, "packets", col(8), "not a count")
	}
	ev.Count = uint32(min(pkts, 1<<32-1))
	bytesN, ok := parseUint(f[9], 1<<63)
	if !ok {
		return dst, errorf(ReasonBadField, "bytes", col(9), "not a count")
	}
	start, ok := parseUint(f[10], maxEpochSec)
	if !ok || start == 0 {
		return dst, errorf(ReasonBadTime, "start", col(10), "not Unix seconds")
	}
	end, ok := parseUint(f[11], maxEpochSec)
	if !ok || end < start {
		return dst, errorf(ReasonBadTime, "end", col(11), "not Unix seconds at or after start")
	}
	ev.Time = int64(start) * int64(time.Second)
	switch string(f[12]) {
	case "ACCEPT":
		ev.Action = event.ActionAllowed
	case "REJECT":
		ev.Action = event.ActionDenied
	default:
		return dst, errorf(ReasonBadField, "action", col(12), "not ACCEPT or REJECT")
	}
	// A lone packet's length is the record's bytes. A single rejected TCP
	// packet from a source is the SYN of an attempt (nothing else is sent
	// before the handshake), so its length shows the tool as in Zeek's
	// one-packet connections.
	if pkts == 1 {
		ev.IPLen = uint16(min(bytesN, 65535))
		switch {
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
