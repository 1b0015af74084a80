package emulate

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
)

// Header holds the header values a magic-packet rule keys on. A probe with
// a Header is crafted and sent through a raw socket.
type Header struct {
	Flags           event.TCPFlags
	SrcPort         uint16
	IPID            uint16
	Window          uint16
	Seq, Ack        uint32
	ICMPType        uint8
	ICMPCode        uint8
	EchoID, EchoSeq uint16
	Proto           event.Proto
}

// harmless is the text a payload carries wherever a rule asks for
// printable bytes it does not fix.
const harmless = "knockwatch emulate "

// docMAC is a MAC address from the documentation range (RFC 7042), for
// rules that want one repeated (Wake-on-LAN).
var docMAC = []byte{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}

// regexCandidates are harmless payloads tried, in order, against a rule's
// regular expression. A prism-style "key address port" connect-back names
// the target's own loopback discard port.
var regexCandidates = []string{
	"knockwatch",
	"knockwatch ",
	"knockwatch 127.0.0.1 9",
	"knockwatch-emulate",
	"KNOCKWATCH",
	"0",
}

// Magic plans the packets that match rule r, sent to target: one packet,
// or for a rule with a port sequence one packet per port in order, 100 ms
// apart. Every field the rule does not fix is harmless: zero addresses and
// ports inside payloads, printable filler text, documentation MACs. The
// plan is checked against the rule itself before it is returned, so it
// never sends a packet the rule would not match.
func Magic(r *rules.Rule, target netip.Addr, port uint16) (*Plan, error) {
	m := &r.Match
	switch m.Proto {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoICMP:
		if !target.Unmap().Is4() {
			return nil, fmt.Errorf("rule %s: %s magic packets are sent over IPv4; %s is not an IPv4 address", r.Name, m.Proto, target)
		}
	case event.ProtoICMPv6:
		if target.Unmap().Is4() {
			return nil, fmt.Errorf("rule %s: ICMPv6 needs an IPv6 target (try --target ::1)", r.Name)
		}
	default:
		return nil, fmt.Errorf("rule %s: protocol %s cannot be emulated", r.Name, m.Proto)
	}
	payload, err := magicPayload(r)
	if err != nil {
		return nil, err
	}
	h := Header{Proto: m.Proto}
	if m.Proto == event.ProtoTCP {
		h.Flags = m.FlagsSet
		if h.Flags == 0 {
			h.Flags = event.FlagSYN
		}
		h.Window = 64240
	}
	if m.Window.Set {
		h.Window = m.Window.V
	}
	if m.IPID.Set {
		h.IPID = m.IPID.V
	} else {
		h.IPID = uint16(randUint32())
	}
	if len(m.SrcPorts) > 0 {
		h.SrcPort = m.SrcPorts[0].Lo
	} else {
		h.SrcPort = uint16(32768 + randUint32()%28000)
	}
	if m.ICMPType.Set {
		h.ICMPType = m.ICMPType.V
	} else if m.Proto == event.ProtoICMP {
		h.ICMPType = 8
	} else if m.Proto == event.ProtoICMPv6 {
		h.ICMPType = 128
	}
	if m.ICMPCode.Set {
		h.ICMPCode = m.ICMPCode.V
	}
	h.EchoID, h.EchoSeq = uint16(randUint32()), 1
	if m.EchoID.Set {
		h.EchoID = m.EchoID.V
	}
	if m.EchoSeq.Set {
		h.EchoSeq = m.EchoSeq.V
	}
	h.Seq = randUint32()
	if m.HasSeqAckGap {
		h.Ack = randUint32() | 1
		h.Seq = h.Ack + m.SeqAckGap
	} else if h.Flags&event.FlagACK != 0 {
		h.Ack = randUint32() | 1
	}

	var ports []uint16
	switch {
	case m.Sequence != nil:
		ports = append(ports, m.Sequence.Ports...)
	case len(m.DstPorts) > 0:
		ports = []uint16{m.DstPorts[0].Lo}
	case m.Proto == event.ProtoTCP || m.Proto == event.ProtoUDP:
		p := port
		if p == 0 {
			p = 9 // discard
		}
		ports = []uint16{p}
	default:
		ports = []uint16{0} // ICMP has no port
	}
	plan := &Plan{Technique: "magic " + r.Name, Target: target.Unmap()}
	for i, p := range ports {
		hh := h
		if i > 0 {
			// Each packet of a sequence is a new connection attempt: new
			// values wherever the rule fixes none.
			hh.Seq = randUint32()
			if !m.IPID.Set {
				hh.IPID = uint16(randUint32())
			}
			if len(m.SrcPorts) == 0 {
				hh.SrcPort = uint16(32768 + randUint32()%28000)
			}
		}
		pr := Probe{Proto: Proto(m.Proto.String()), Port: p, Payload: payload, Header: &hh, Note: "matches rule " + r.Name}
		if i > 0 {
			pr.Wait = magicSequenceGap
		}
		if len(ports) > 1 {
			pr.Note = fmt.Sprintf("%s, port %d of %d", pr.Note, i+1, len(ports))
		}
		if !r.Matches(probeEvent(target, pr)) {
			return nil, fmt.Errorf("rule %s: the packet built for it does not match it (a condition emulate cannot meet)", r.Name)
		}
		plan.Probes = append(plan.Probes, pr)
	}
	return plan, nil
}

// magicSequenceGap spaces the packets of a port-sequence rule.
const magicSequenceGap = 100 * time.Millisecond

// probeEvent is the event a packet source would decode from the probe.
func probeEvent(target netip.Addr, pr Probe) *event.Event {
	h := pr.Header
	src := netip.MustParseAddr("192.0.2.1")
	if !target.Unmap().Is4() {
		src = netip.MustParseAddr("2001:db8::1")
	}
	return &event.Event{
		Kind: event.KindAttempt, Src: src, Dst: target.Unmap(), Proto: h.Proto, Flags: event.FlagPacket,
		SrcPort: h.SrcPort, DstPort: pr.Port, TCPFlags: h.Flags, IPID: h.IPID, Window: h.Window,
		Seq: h.Seq, Ack: h.Ack, ICMPType: h.ICMPType, ICMPCode: h.ICMPCode, EchoID: h.EchoID, EchoSeq: h.EchoSeq,
		Payload: pr.Payload, PayloadLen: uint16(len(pr.Payload)),
	}
}

// magicPayload builds the smallest harmless payload that passes every
// payload check of the rule.
func magicPayload(r *rules.Rule) ([]byte, error) {
	m := &r.Match
	var buf []byte
	var set []bool
	grow := func(n int) {
		for len(buf) < n {
			buf = append(buf, 0)
			set = append(set, false)
		}
	}
	put := func(off int, b []byte) {
		grow(off + len(b))
		copy(buf[off:], b)
		for k := off; k < off+len(b); k++ {
			set[k] = true
		}
	}
	filler := func(k int) byte { return harmless[k%len(harmless)] }
	toEnd := -1
	for _, c := range m.Payload {
		if c.Not {
			continue
		}
		switch c.Kind {
		case rules.CheckBytes:
			put(c.Offset, c.Bytes)
		case rules.CheckRepeat:
			unit := docMAC
			if c.Length != len(docMAC) {
				unit = []byte(harmless)[:min(c.Length, len(harmless))]
			}
			for k := 0; k < c.Count; k++ {
				put(c.Offset+k*c.Length, unit)
			}
		case rules.CheckRegex:
			cand, ok := regexPayload(c.Regex)
			if !ok {
				return nil, fmt.Errorf("rule %s: no harmless payload matches its regex %q", r.Name, c.Regex)
			}
			put(c.Offset, cand)
		case rules.CheckPrintable:
			if c.Length == 0 {
				toEnd = c.Offset
				grow(c.Offset + 1)
				continue
			}
			grow(c.Offset + c.Length)
			for k := c.Offset; k < c.Offset+c.Length; k++ {
				if !set[k] {
					buf[k], set[k] = filler(k-c.Offset), true
				}
			}
		case rules.CheckEntropy:
			toEnd = max(toEnd, c.Offset)
		}
	}
	if toEnd >= 0 {
		want := max(len(buf), len("knockwatch"))
		if m.PayloadMax > 0 {
			want = min(want, m.PayloadMax)
		}
		grow(want)
	}
	grow(m.PayloadMin)
	if toEnd >= 0 {
		for k := toEnd; k < len(buf); k++ {
			if !set[k] {
				buf[k], set[k] = filler(k-toEnd), true
			}
		}
	}
	if m.PayloadMax > 0 && len(buf) > m.PayloadMax {
		return nil, fmt.Errorf("rule %s: its payload checks need %d bytes, more than its payload_len max %d", r.Name, len(buf), m.PayloadMax)
	}
	if len(buf) > 1400 {
		return nil, fmt.Errorf("rule %s: payload of %d bytes is too large to emulate", r.Name, len(buf))
	}
	return buf, nil
}

func regexPayload(re *regexp.Regexp) ([]byte, bool) {
	for _, c := range regexCandidates {
		if re.MatchString(c) {
			return []byte(c), true
		}
	}
	return nil, false
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// sendRaw crafts the probe's packet and sends it through a raw socket:
// IPv4 with the rule's header values (the kernel keeps them as given), or
// an ICMPv6 echo whose IPv6 header and checksum the kernel writes.
func sendRaw(target netip.Addr, pr Probe) error {
	h := pr.Header
	if h.Proto == event.ProtoICMPv6 {
		return sendICMPv6(target, pr)
	}
	src, err := sourceFor(target)
	if err != nil {
		return err
	}
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Id: h.IPID, Flags: layers.IPv4DontFragment,
		SrcIP: src.AsSlice(), DstIP: target.AsSlice(),
	}
	var ls []gopacket.SerializableLayer
	switch h.Proto {
	case event.ProtoTCP:
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(h.SrcPort), DstPort: layers.TCPPort(pr.Port), Seq: h.Seq, Ack: h.Ack, Window: h.Window,
			FIN: h.Flags&event.FlagFIN != 0, SYN: h.Flags&event.FlagSYN != 0, RST: h.Flags&event.FlagRST != 0,
			PSH: h.Flags&event.FlagPSH != 0, ACK: h.Flags&event.FlagACK != 0, URG: h.Flags&event.FlagURG != 0,
			ECE: h.Flags&event.FlagECE != 0, CWR: h.Flags&event.FlagCWR != 0,
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			return err
		}
		ls = []gopacket.SerializableLayer{ip, tcp, gopacket.Payload(pr.Payload)}
	case event.ProtoUDP:
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(h.SrcPort), DstPort: layers.UDPPort(pr.Port)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return err
		}
		ls = []gopacket.SerializableLayer{ip, udp, gopacket.Payload(pr.Payload)}
	case event.ProtoICMP:
		ip.Protocol = layers.IPProtocolICMPv4
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(h.ICMPType, h.ICMPCode), Id: h.EchoID, Seq: h.EchoSeq}
		ls = []gopacket.SerializableLayer{ip, icmp, gopacket.Payload(pr.Payload)}
	default:
		return fmt.Errorf("cannot craft %s", h.Proto)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return fmt.Errorf("craft %s packet: %w", h.Proto, err)
	}
	// IPPROTO_RAW implies IP_HDRINCL: the kernel sends the header as built.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket (needs root or CAP_NET_RAW): %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Sendto(fd, buf.Bytes(), 0, &syscall.SockaddrInet4{Addr: target.As4()}); err != nil {
		return fmt.Errorf("send to %s: %w", target, err)
	}
	return nil
}

func sendICMPv6(target netip.Addr, pr Probe) error {
	h := pr.Header
	msg := make([]byte, 8+len(pr.Payload))
	msg[0], msg[1] = h.ICMPType, h.ICMPCode
	binary.BigEndian.PutUint16(msg[4:], h.EchoID)
	binary.BigEndian.PutUint16(msg[6:], h.EchoSeq)
	copy(msg[8:], pr.Payload)
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("raw ICMPv6 socket (needs root or CAP_NET_RAW): %w", err)
	}
	defer syscall.Close(fd)
	// The kernel computes the ICMPv6 checksum on raw ICMPv6 sockets.
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrInet6{Addr: target.As16()}); err != nil {
		return fmt.Errorf("send to %s: %w", target, err)
	}
	return nil
}

// sourceFor asks the kernel which source address it would use towards
// target (connecting a UDP socket sends nothing); the TCP and UDP
// checksums cover it.
func sourceFor(target netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(target, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", target, err)
	}
	defer c.Close()
	la, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return netip.Addr{}, errors.New("no local address")
	}
	a, _ := netip.AddrFromSlice(la.IP)
	return a.Unmap(), nil
}

// describe renders the header values that matter for the probe's protocol.
func (h *Header) describe() string {
	switch h.Proto {
	case event.ProtoTCP:
		return fmt.Sprintf("flags %s sport %d seq %d ack %d win %d ip-id %d", h.Flags, h.SrcPort, h.Seq, h.Ack, h.Window, h.IPID)
	case event.ProtoUDP:
		return fmt.Sprintf("sport %d ip-id %d", h.SrcPort, h.IPID)
	case event.ProtoICMP:
		return fmt.Sprintf("type %d code %d id %d seq %d ip-id %d", h.ICMPType, h.ICMPCode, h.EchoID, h.EchoSeq, h.IPID)
	}
	return fmt.Sprintf("type %d code %d id %d seq %d", h.ICMPType, h.ICMPCode, h.EchoID, h.EchoSeq)
}
