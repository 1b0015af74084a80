// Package event defines the one normalized record every detector sees.
//
// An Event is a fixed-size value: times are int64 nanoseconds since the Unix
// epoch, addresses are netip.Addr, ports are uint16. Decoders append events to
// caller-owned slices, so the hot path never allocates per record. Host-branch
// events (knock daemons, process creation) carry their extra fields behind
// pointers so that network events stay small.
package event

import (
	"net/netip"
)

// Kind says which branch an event belongs to.
type Kind uint8

// Event kinds.
const (
	// KindAttempt is a network connection attempt or connection: a firewall
	// log line, a flow record or a packet.
	KindAttempt Kind = iota + 1
	// KindDaemon is a line written by a knock daemon (knockd, fwknopd).
	KindDaemon
	// KindProcess is a process-creation or file event on an endpoint.
	KindProcess
)

func (k Kind) String() string {
	switch k {
	case KindAttempt:
		return "attempt"
	case KindDaemon:
		return "daemon"
	case KindProcess:
		return "process"
	}
	return "unknown"
}

// Proto is an IP protocol number (IANA), so decoders of flow logs can store
// the number they read without a lookup.
type Proto uint8

// Protocols the detectors care about.
const (
	ProtoICMP   Proto = 1
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoICMPv6 Proto = 58
)

func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	case 0:
		return "unknown"
	}
	return protoNumbers[p]
}

var protoNumbers = func() (names [256]string) {
	for i := range names {
		names[i] = "ip-proto-" + itoa(i)
	}
	return names
}()

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [4]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// ParseProto maps a protocol name (any case) to its number. It reports false
// for names it does not know.
func ParseProto(s []byte) (Proto, bool) {
	switch len(s) {
	case 3:
		if eqFold(s, "tcp") {
			return ProtoTCP, true
		}
		if eqFold(s, "udp") {
			return ProtoUDP, true
		}
	case 4:
		if eqFold(s, "icmp") {
			return ProtoICMP, true
		}
	case 6:
		if eqFold(s, "icmpv6") {
			return ProtoICMPv6, true
		}
	case 7:
		if eqFold(s, "udplite") {
			return ProtoUDP, true
		}
	case 9:
		if eqFold(s, "ipv6-icmp") {
			return ProtoICMPv6, true
		}
	}
	return 0, false
}

func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Action is what the network did with an attempt.
type Action uint8

// Actions.
const (
	// ActionUnknown: the record does not say (a LOG line whose prefix names
	// no verdict, a packet whose answer was not seen yet).
	ActionUnknown Action = iota
	// ActionDenied: the attempt did not reach a listening service: dropped,
	// rejected, answered by RST or ICMP unreachable, or never answered.
	ActionDenied
	// ActionAllowed: the attempt was accepted or a connection was made.
	ActionAllowed
)

func (a Action) String() string {
	switch a {
	case ActionDenied:
		return "denied"
	case ActionAllowed:
		return "allowed"
	}
	return "unknown"
}

// TCPFlags holds the TCP flag bits in their wire positions.
type TCPFlags uint8

// TCP flag bits as on the wire.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// String renders the flags like tcpdump does ("S", "SA", "R.").
func (f TCPFlags) String() string {
	var b [8]byte
	n := 0
	for _, x := range [...]struct {
		f TCPFlags
		c byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagRST, 'R'}, {FlagPSH, 'P'}, {FlagURG, 'U'}, {FlagECE, 'E'}, {FlagCWR, 'W'}, {FlagACK, 'A'}} {
		if f&x.f != 0 {
			b[n] = x.c
			n++
		}
	}
	return string(b[:n])
}

// Shape is what a packet's header fields betray about the tool that sent it.
// Decoders set it only where the format shows enough of the header.
type Shape uint8

// Shapes.
const (
	ShapeUnknown Shape = iota
	// ShapeOSStack: an ordinary connect() from a full TCP stack (Linux SYN of
	// 60 bytes with options, DF set), as the knock client sends.
	ShapeOSStack
	// ShapeNmap: nmap's raw SYN: 44 bytes (MSS option only), window 1024.
	ShapeNmap
	// ShapeMasscan: masscan's SYN: 40 bytes, no options, window 1024.
	ShapeMasscan
	// ShapeZmap: zmap's probes carry IP ID 54321.
	ShapeZmap
	// ShapeHping: hping3's default SYN: 40 bytes, no options, window 64.
	ShapeHping
	// ShapeKnockUDP: the knock client's UDP hit, one NUL byte of payload.
	ShapeKnockUDP
)

var shapeNames = [...]string{"unknown", "os-stack", "nmap", "masscan", "zmap", "hping3", "knock-udp"}

func (s Shape) String() string {
	if int(s) < len(shapeNames) {
		return shapeNames[s]
	}
	return "unknown"
}

// Scanner reports whether the shape belongs to a port scanner.
func (s Shape) Scanner() bool { return s == ShapeNmap || s == ShapeMasscan || s == ShapeZmap }

// Flags qualify an event's fields.
type Flags uint8

// Event flags.
const (
	// FlagUnordered: the source aggregates over a time window (flow logs), so
	// the order of events sharing a timestamp is unknown.
	FlagUnordered Flags = 1 << iota
	// FlagRelativeTime: the time is an offset from an unknown boot time
	// (dmesg without a wall clock), good for ordering but not as a date.
	FlagRelativeTime
	// FlagCoarseTime: the time is precise to the minute only (knockd LogFile).
	FlagCoarseTime
	// FlagPacket: the event was decoded from a captured packet, so its header
	// fields are exact and the payload was seen: a nil Payload with a
	// non-zero PayloadLen means the source judged it uninteresting, not
	// that it is unknown as in a log line.
	FlagPacket
	// FlagNoTCPFlags: the source does not show TCP flags (a flow record, a
	// firewall's verdict log such as CEF), so a zero TCPFlags on a TCP event
	// means unknown, not a NULL-scan probe.
	FlagNoTCPFlags
)

// Origin locates the record an event came from, for evidence. Input indexes
// the run's input table (a file path, an interface, a Kafka partition); Index
// is a 1-based line number, a 1-based frame number or an offset.
type Origin struct {
	Input uint32
	Index uint64
}

// Event is one normalized record.
type Event struct {
	// Time is the event time in nanoseconds since the Unix epoch.
	Time   int64
	Origin Origin

	Src, Dst         netip.Addr
	SrcPort, DstPort uint16

	Kind     Kind
	Proto    Proto
	Action   Action
	TCPFlags TCPFlags
	Shape    Shape
	Flags    Flags
	ICMPType uint8
	ICMPCode uint8
	TTL      uint8

	// IPLen is the IP datagram length as the source reports it (IPv4 total
	// length; IPv6 payload length plus 40).
	IPLen  uint16
	IPID   uint16
	Window uint16
	// PayloadLen is the transport payload length where known.
	PayloadLen uint16
	// Count is how many packets the record stands for (flow logs); 0 means 1.
	Count uint32

	// Seq and Ack are the TCP sequence and acknowledgment numbers where the
	// source shows them (packets). Magic-packet triggers such as SYNful
	// Knock live in their relation.
	Seq, Ack uint32
	// EchoID and EchoSeq are the identifier and sequence number of an ICMP
	// or ICMPv6 echo request or reply (Reptile keys on them).
	EchoID, EchoSeq uint16

	// Payload is the transport payload, set only by packet sources and only
	// when a detector could want it (see FlagPacket). The event owns it: the
	// engine copies events into shard batches and releases the source's
	// batch before a shard looks at them, so a source never lends a buffer
	// it reuses.
	Payload []byte

	// Daemon is set for KindDaemon events, Process for KindProcess events.
	Daemon  *Daemon
	Process *Process
}

// Closed reports whether the attempt hit a port that was not open to it.
func (e *Event) Closed() bool { return e.Action == ActionDenied }
