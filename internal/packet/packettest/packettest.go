// Package packettest builds packets and captures for tests with gopacket's
// own layers, so knockwatch's hand-written decoder is always checked against
// an independent encoder. It is used by tests only.
package packettest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet describes one packet; zero fields take ordinary defaults (TTL 64).
type Packet struct {
	Time     time.Time
	Src, Dst string
	// Proto is "tcp", "udp", "icmp" or "icmpv6".
	Proto            string
	SrcPort, DstPort uint16
	// Flags in tcpdump letters: "S", "SA", "R", "RA", "A", "PA", "F", "".
	Flags    string
	Seq, Ack uint32
	Window   uint16
	IPID     uint16
	TTL      uint8
	DF       bool
	Options  []layers.TCPOption
	// ICMP fields.
	ICMPType, ICMPCode uint8
	EchoID, EchoSeq    uint16
	Payload            []byte
	// VLAN, if non-zero, adds an 802.1Q tag to Ethernet frames.
	VLAN uint16
}

// LinuxSYNOptions are the options of a Linux connect() SYN: MSS, SACK
// permitted, timestamps, NOP, window scale (20 bytes).
func LinuxSYNOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

// MSSOnly is nmap's SYN option list: MSS 1460 alone.
func MSSOnly() []layers.TCPOption {
	return []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
}

var (
	macA = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macB = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

func (p *Packet) layers() ([]gopacket.SerializableLayer, bool, error) {
	src, err := netip.ParseAddr(p.Src)
	if err != nil {
		return nil, false, fmt.Errorf("src: %w", err)
	}
	dst, err := netip.ParseAddr(p.Dst)
	if err != nil {
		return nil, false, fmt.Errorf("dst: %w", err)
	}
	v6 := src.Is6()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	var ls []gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	var proto layers.IPProtocol
	switch p.Proto {
	case "tcp":
		proto = layers.IPProtocolTCP
	case "udp":
		proto = layers.IPProtocolUDP
	case "icmp":
		proto = layers.IPProtocolICMPv4
	case "icmpv6":
		proto = layers.IPProtocolICMPv6
	default:
		return nil, false, fmt.Errorf("proto %q", p.Proto)
	}
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, netLayer = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: p.IPID, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if p.DF {
			ip.Flags = layers.IPv4DontFragment
		}
		ls, netLayer = append(ls, ip), ip
	}
	switch p.Proto {
	case "tcp":
		t := &layers.TCP{SrcPort: layers.TCPPort(p.SrcPort), DstPort: layers.TCPPort(p.DstPort), Seq: p.Seq, Ack: p.Ack, Window: p.Window, Options: p.Options}
		for _, c := range p.Flags {
			switch c {
			case 'S':
				t.SYN = true
			case 'A', '.':
				t.ACK = true
			case 'R':
				t.RST = true
			case 'F':
				t.FIN = true
			case 'P':
				t.PSH = true
			case 'U':
				t.URG = true
			default:
				return nil, false, fmt.Errorf("flag %q", c)
			}
		}
		_ = t.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, t)
	case "udp":
		u := &layers.UDP{SrcPort: layers.UDPPort(p.SrcPort), DstPort: layers.UDPPort(p.DstPort)}
		_ = u.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, u)
	case "icmp":
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(p.ICMPType, p.ICMPCode), Id: p.EchoID, Seq: p.EchoSeq})
	case "icmpv6":
		c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(p.ICMPType, p.ICMPCode)}
		_ = c.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, c)
		// The echo identifier and sequence are the first four bytes after
		// the 4-byte ICMPv6 header; other types keep four unused bytes.
		if p.ICMPType == 128 || p.ICMPType == 129 {
			ls = append(ls, &layers.ICMPv6Echo{Identifier: p.EchoID, SeqNumber: p.EchoSeq})
		} else {
			ls = append(ls, gopacket.Payload{0, 0, 0, 0})
		}
	}
	if len(p.Payload) > 0 {
		ls = append(ls, gopacket.Payload(p.Payload))
	}
	return ls, v6, nil
}

func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// IP returns the packet as a raw IP datagram (link type RAW).
func (p Packet) IP() []byte {
	ls, _, err := p.layers()
	if err != nil {
		panic("packettest: " + err.Error())
	}
	b, err := serialize(ls...)
	if err != nil {
		panic("packettest: " + err.Error())
	}
	return b
}

// Ethernet returns the packet in an Ethernet frame (with an 802.1Q tag if
// VLAN is set).
func (p Packet) Ethernet() []byte {
	ls, v6, err := p.layers()
	if err != nil {
		panic("packettest: " + err.Error())
	}
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	head := []gopacket.SerializableLayer{eth}
	if p.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		head = append(head, &layers.Dot1Q{VLANIdentifier: p.VLAN, Type: et})
	}
	b, err := serialize(append(head, ls...)...)
	if err != nil {
		panic("packettest: " + err.Error())
	}
	return b
}

// Frame is one captured frame.
type Frame struct {
	Time time.Time
	Data []byte
}

// Pcap writes frames as a pcap file of the given link type (nanosecond
// timestamps).
func Pcap(link layers.LinkType, frames []Frame) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		panic(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := w.WritePacket(ci, f.Data); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// EthernetPcap builds a pcap of Ethernet frames from packets.
func EthernetPcap(pkts []Packet) []byte {
	frames := make([]Frame, len(pkts))
	for i, p := range pkts {
		frames[i] = Frame{Time: p.Time, Data: p.Ethernet()}
	}
	return Pcap(layers.LinkTypeEthernet, frames)
}
