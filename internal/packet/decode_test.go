package packet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
)

var (
	knocker = "198.51.100.7"
	server  = "203.0.113.10"
)

func linuxSYN(dport uint16) packettest.Packet {
	return packettest.Packet{Src: knocker, Dst: server, Proto: "tcp", SrcPort: 40000, DstPort: dport, Flags: "S",
		Seq: 1000, Window: 64240, IPID: 4321, DF: true, Options: packettest.LinuxSYNOptions()}
}

func sll(proto uint16, pktType uint16, ip []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], pktType)
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	binary.BigEndian.PutUint16(h[14:], proto)
	return append(h, ip...)
}

func sll2(proto uint16, pktType byte, ip []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], proto)
	binary.BigEndian.PutUint32(h[4:], 2)
	binary.BigEndian.PutUint16(h[8:], 1)
	h[10] = pktType
	h[11] = 6
	return append(h, ip...)
}

func null(family uint32, ip []byte) []byte {
	h := make([]byte, 4)
	binary.LittleEndian.PutUint32(h, family)
	return append(h, ip...)
}

// ipv6WithExt builds an IPv6 UDP datagram behind a hop-by-hop header and a
// fragment header (first fragment), as gopacket serializes them.
func ipv6WithExt(t *testing.T) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
		SrcIP: netip.MustParseAddr("2001:db8::7").AsSlice(), DstIP: netip.MustParseAddr("2001:db8::10").AsSlice()}
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Fragment
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 7000}
	_ = udp.SetNetworkLayerForChecksum(ip)
	payload := gopacket.Payload("hi")
	// gopacket has no serializer for the fragment header: write it by hand
	// (RFC 8200 4.5: next header, reserved, offset 0 + M=0, id).
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, udp, payload); err != nil {
		t.Fatal(err)
	}
	frag := append([]byte{byte(layers.IPProtocolUDP), 0, 0, 0, 0, 0, 0, 1}, buf.Bytes()...)
	buf2 := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf2, gopacket.SerializeOptions{FixLengths: true}, ip, hbh, gopacket.Payload(frag)); err != nil {
		t.Fatal(err)
	}
	return buf2.Bytes()
}

func TestDecode(t *testing.T) {
	syn := linuxSYN(7000)
	udpKnock := packettest.Packet{Src: knocker, Dst: server, Proto: "udp", SrcPort: 41000, DstPort: 2222, Payload: []byte{0}}
	echo := packettest.Packet{Src: knocker, Dst: server, Proto: "icmp", ICMPType: 8, EchoID: 9965, EchoSeq: 15123, Payload: []byte("hax0r ")}
	unreach := packettest.Packet{Src: server, Dst: knocker, Proto: "icmp", ICMPType: 3, ICMPCode: 3, Payload: udpKnock.IP()[:28]}
	echo6 := packettest.Packet{Src: "2001:db8::7", Dst: "2001:db8::10", Proto: "icmpv6", ICMPType: 128, EchoID: 7, EchoSeq: 9, Payload: []byte("token")}
	syn6 := packettest.Packet{Src: "2001:db8::7", Dst: "2001:db8::10", Proto: "tcp", SrcPort: 40001, DstPort: 8000, Flags: "S", Window: 1024, Options: packettest.MSSOnly()}
	unreach6 := packettest.Packet{Src: "2001:db8::10", Dst: "2001:db8::7", Proto: "icmpv6", ICMPType: 1, ICMPCode: 4,
		Payload: packettest.Packet{Src: "2001:db8::7", Dst: "2001:db8::10", Proto: "udp", SrcPort: 5000, DstPort: 6000}.IP()}

	padded := packettest.Packet{Src: knocker, Dst: server, Proto: "udp", SrcPort: 41000, DstPort: 2222, Payload: []byte{0}}.Ethernet()
	padded = append(padded, make([]byte, 60-len(padded))...) // Ethernet minimum frame

	fragment := syn.IP()
	binary.BigEndian.PutUint16(fragment[6:], 0x0010) // offset 16 × 8 bytes
	tso := syn.IP()
	binary.BigEndian.PutUint16(tso[2:], 0) // total length 0: offloaded segment
	badIHL := syn.IP()
	badIHL[0] = 0x44
	badOff := syn.IP()
	badOff[20+12] = 0x30
	arp := append(append(make([]byte, 12), 0x08, 0x06), make([]byte, 28)...)

	type want struct {
		network    uint8
		src, dst   string
		proto      event.Proto
		sport      uint16
		dport      uint16
		flags      event.TCPFlags
		payloadLen int
		payload    string
		quoted     bool
		qdport     uint16
		icmpType   uint8
		echoID     uint16
		optLen     uint8
		outgoing   bool
		fragment   bool
	}
	tests := []struct {
		name   string
		link   layers.LinkType
		frame  []byte
		want   want
		reason decode.Reason
		layer  string
	}{
		{"ethernet ipv4 tcp syn", layers.LinkTypeEthernet, syn.Ethernet(),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20}, 0, ""},
		{"vlan tag", layers.LinkTypeEthernet, func() []byte { p := syn; p.VLAN = 100; return p.Ethernet() }(),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20}, 0, ""},
		{"qinq tags", layers.LinkTypeEthernet, func() []byte {
			f := syn.Ethernet()
			tags := []byte{0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x64}
			return append(append(append([]byte{}, f[:12]...), tags...), f[12:]...)
		}(), want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20}, 0, ""},
		{"ethernet padding trimmed", layers.LinkTypeEthernet, padded,
			want{network: 4, src: knocker, dst: server, proto: event.ProtoUDP, sport: 41000, dport: 2222, payloadLen: 1, payload: "\x00"}, 0, ""},
		{"linux sll outgoing", layers.LinkTypeLinuxSLL, sll(0x0800, 4, syn.IP()),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20, outgoing: true}, 0, ""},
		{"linux sll2", layers.LinkTypeLinuxSLL2, sll2(0x0800, 0, udpKnock.IP()),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoUDP, sport: 41000, dport: 2222, payloadLen: 1, payload: "\x00"}, 0, ""},
		{"raw ipv4", layers.LinkTypeRaw, echo.IP(),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoICMP, icmpType: 8, echoID: 9965, payloadLen: 6, payload: "hax0r "}, 0, ""},
		{"raw ipv6 tcp", layers.LinkTypeRaw, syn6.IP(),
			want{network: 6, src: "2001:db8::7", dst: "2001:db8::10", proto: event.ProtoTCP, sport: 40001, dport: 8000, flags: event.FlagSYN, optLen: 4}, 0, ""},
		{"linktype ipv6 icmpv6 echo", layers.LinkTypeIPv6, echo6.IP(),
			want{network: 6, src: "2001:db8::7", dst: "2001:db8::10", proto: event.ProtoICMPv6, icmpType: 128, echoID: 7, payloadLen: 5, payload: "token"}, 0, ""},
		{"ipv6 extension headers", layers.LinkTypeRaw, ipv6WithExt(t),
			want{network: 6, src: "2001:db8::7", dst: "2001:db8::10", proto: event.ProtoUDP, sport: 5353, dport: 7000, payloadLen: 2, payload: "hi"}, 0, ""},
		{"icmp unreachable quotes udp", layers.LinkTypeIPv4, unreach.IP(),
			want{network: 4, src: server, dst: knocker, proto: event.ProtoICMP, icmpType: 3, quoted: true, qdport: 2222, payloadLen: 28, payload: string(udpKnock.IP()[:28])}, 0, ""},
		{"icmpv6 unreachable quotes udp", layers.LinkTypeRaw, unreach6.IP(),
			want{network: 6, src: "2001:db8::10", dst: "2001:db8::7", proto: event.ProtoICMPv6, icmpType: 1, quoted: true, qdport: 6000, payloadLen: 48, payload: string(unreach6.Payload)}, 0, ""},
		{"bsd null loopback", layers.LinkTypeNull, null(2, syn.IP()),
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20}, 0, ""},
		{"non-first fragment", layers.LinkTypeRaw, fragment,
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, fragment: true}, 0, ""},
		{"offloaded length 0", layers.LinkTypeRaw, tso,
			want{network: 4, src: knocker, dst: server, proto: event.ProtoTCP, sport: 40000, dport: 7000, flags: event.FlagSYN, optLen: 20}, 0, ""},
		{"arp is not ip", layers.LinkTypeEthernet, arp, want{}, 0, ""},

		{"truncated ethernet", layers.LinkTypeEthernet, syn.Ethernet()[:10], want{}, decode.ReasonTruncated, "ethernet"},
		{"truncated vlan", layers.LinkTypeEthernet, func() []byte { p := syn; p.VLAN = 7; return p.Ethernet()[:16] }(), want{}, decode.ReasonTruncated, "vlan"},
		{"truncated ipv4", layers.LinkTypeEthernet, syn.Ethernet()[:14+19], want{}, decode.ReasonTruncated, "ipv4"},
		{"truncated tcp options", layers.LinkTypeRaw, syn.IP()[:20+30], want{}, decode.ReasonTruncated, "tcp"},
		{"truncated udp", layers.LinkTypeRaw, udpKnock.IP()[:24], want{}, decode.ReasonTruncated, "udp"},
		{"truncated icmp", layers.LinkTypeRaw, echo.IP()[:25], want{}, decode.ReasonTruncated, "icmp"},
		{"truncated ipv6", layers.LinkTypeRaw, syn6.IP()[:39], want{}, decode.ReasonTruncated, "ipv6"},
		{"truncated sll2", layers.LinkTypeLinuxSLL2, make([]byte, 19), want{}, decode.ReasonTruncated, "sll2"},
		{"empty raw frame", layers.LinkTypeRaw, nil, want{}, decode.ReasonTruncated, "ip"},
		{"bad ipv4 header length", layers.LinkTypeRaw, badIHL, want{}, decode.ReasonBadHeader, "ipv4"},
		{"bad tcp data offset", layers.LinkTypeRaw, badOff, want{}, decode.ReasonBadHeader, "tcp"},
		{"ip version 5", layers.LinkTypeRaw, []byte{0x50, 0, 0, 0}, want{}, decode.ReasonBadHeader, "ip"},
		{"unsupported link type", layers.LinkTypeIEEE802_11, syn.Ethernet(), want{}, decode.ReasonBadProto, "link"},
		{"loopback bad family", layers.LinkTypeNull, null(99, syn.IP()), want{}, decode.ReasonBadProto, "loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h packet.Header
			err := packet.Decode(tc.link, tc.frame, &h)
			if tc.reason != 0 {
				var fe *packet.FrameError
				if !errors.As(err, &fe) {
					t.Fatalf("error = %v, want a *FrameError (%s in %s)", err, tc.reason, tc.layer)
				}
				if fe.Reason != tc.reason || fe.Layer != tc.layer {
					t.Fatalf("error = %s/%s (%v), want %s/%s", fe.Reason, fe.Layer, fe, tc.reason, tc.layer)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			w := tc.want
			if h.Network != w.network {
				t.Fatalf("network = %d, want %d", h.Network, w.network)
			}
			if w.network == 0 {
				return
			}
			if h.Src.String() != w.src || h.Dst.String() != w.dst || h.Proto != w.proto {
				t.Errorf("got %s > %s proto %s, want %s > %s %s", h.Src, h.Dst, h.Proto, w.src, w.dst, w.proto)
			}
			if h.Fragment != w.fragment || h.Outgoing != w.outgoing {
				t.Errorf("fragment=%v outgoing=%v, want %v %v", h.Fragment, h.Outgoing, w.fragment, w.outgoing)
			}
			if w.fragment {
				return
			}
			if h.SrcPort != w.sport || h.DstPort != w.dport || h.TCPFlags != w.flags || h.TCPOpts.Len != w.optLen {
				t.Errorf("ports %d>%d flags %s opts %d, want %d>%d %s %d", h.SrcPort, h.DstPort, h.TCPFlags, h.TCPOpts.Len, w.sport, w.dport, w.flags, w.optLen)
			}
			if h.PayloadLen != w.payloadLen || string(h.Payload) != w.payload {
				t.Errorf("payload %q (len %d), want %q (%d)", h.Payload, h.PayloadLen, w.payload, w.payloadLen)
			}
			if h.ICMPType != w.icmpType || h.EchoID != w.echoID {
				t.Errorf("icmp type %d id %d, want %d %d", h.ICMPType, h.EchoID, w.icmpType, w.echoID)
			}
			if h.Quoted.Valid != w.quoted || (w.quoted && h.Quoted.DstPort != w.qdport) {
				t.Errorf("quoted %+v, want valid=%v dport %d", h.Quoted, w.quoted, w.qdport)
			}
		})
	}
}

// TestDecodeAgreesWithGopacket decodes the same frames with gopacket's
// DecodingLayerParser and compares the fields both read.
func TestDecodeAgreesWithGopacket(t *testing.T) {
	var (
		eth  layers.Ethernet
		dot  layers.Dot1Q
		ip4  layers.IPv4
		ip6  layers.IPv6
		tcp  layers.TCP
		udp  layers.UDP
		icmp layers.ICMPv4
		pl   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot, &ip4, &ip6, &tcp, &udp, &icmp, &pl)
	parser.IgnoreUnsupported = true
	var frames [][]byte
	for i := range 200 {
		p := packettest.Packet{Src: knocker, Dst: server, SrcPort: uint16(1024 + i*7), DstPort: uint16(i*331 + 1), Seq: uint32(i * 7919), Ack: uint32(i * 104729),
			Window: uint16(i * 97), IPID: uint16(i * 13), TTL: uint8(i), DF: i%2 == 0, Payload: make([]byte, i%50)}
		if i%5 == 0 {
			p.Src, p.Dst = "2001:db8::7", "2001:db8::10"
		}
		switch i % 3 {
		case 0:
			p.Proto, p.Flags = "tcp", []string{"S", "SA", "R", "PA", "F", "RA"}[i%6]
			if i%4 == 0 {
				p.Options = packettest.LinuxSYNOptions()
			}
		case 1:
			p.Proto = "udp"
		case 2:
			if p.Src == knocker {
				p.Proto, p.ICMPType, p.EchoID, p.EchoSeq = "icmp", 8, uint16(i), uint16(i*3)
			} else {
				p.Proto = "udp"
			}
		}
		if i%7 == 0 {
			p.VLAN = uint16(i + 1)
		}
		frames = append(frames, p.Ethernet())
	}
	var decoded []gopacket.LayerType
	for i, f := range frames {
		var h packet.Header
		if err := packet.Decode(layers.LinkTypeEthernet, f, &h); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if err := parser.DecodeLayers(f, &decoded); err != nil {
			t.Fatalf("frame %d: gopacket: %v", i, err)
		}
		var src, dst netip.Addr
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				src, dst = netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), netip.AddrFrom4([4]byte(ip4.DstIP.To4()))
				if h.TTL != ip4.TTL || h.IPID != ip4.Id || h.DF != (ip4.Flags&layers.IPv4DontFragment != 0) || int(h.IPLen) != int(ip4.Length) {
					t.Errorf("frame %d: ipv4 fields differ: %+v", i, h)
				}
			case layers.LayerTypeIPv6:
				src, dst = netip.AddrFrom16([16]byte(ip6.SrcIP)), netip.AddrFrom16([16]byte(ip6.DstIP))
			case layers.LayerTypeTCP:
				if h.SrcPort != uint16(tcp.SrcPort) || h.DstPort != uint16(tcp.DstPort) || h.Seq != tcp.Seq || h.Ack != tcp.Ack ||
					h.Window != tcp.Window || h.TCPFlags&event.FlagSYN != 0 != tcp.SYN || h.TCPFlags&event.FlagACK != 0 != tcp.ACK ||
					h.TCPFlags&event.FlagRST != 0 != tcp.RST || string(h.Payload) != string(tcp.Payload) {
					t.Errorf("frame %d: tcp fields differ", i)
				}
			case layers.LayerTypeUDP:
				if h.SrcPort != uint16(udp.SrcPort) || h.DstPort != uint16(udp.DstPort) || string(h.Payload) != string(udp.Payload) {
					t.Errorf("frame %d: udp fields differ", i)
				}
			case layers.LayerTypeICMPv4:
				if h.ICMPType != icmp.TypeCode.Type() || h.EchoID != icmp.Id || h.EchoSeq != icmp.Seq || string(h.Payload) != string(icmp.Payload) {
					t.Errorf("frame %d: icmp fields differ", i)
				}
			}
		}
		if h.Src != src || h.Dst != dst {
			t.Errorf("frame %d: addresses %s>%s, gopacket %s>%s", i, h.Src, h.Dst, src, dst)
		}
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		name string
		p    packettest.Packet
		want event.Shape
	}{
		{"linux connect", linuxSYN(7000), event.ShapeOSStack},
		{"nmap -sS", packettest.Packet{Src: knocker, Dst: server, Proto: "tcp", SrcPort: 53211, DstPort: 22, Flags: "S", Window: 1024, IPID: 777, Options: packettest.MSSOnly()}, event.ShapeNmap},
		{"masscan", packettest.Packet{Src: knocker, Dst: server, Proto: "tcp", SrcPort: 61000, DstPort: 80, Flags: "S", Window: 1024, IPID: 1}, event.ShapeMasscan},
		{"zmap", packettest.Packet{Src: knocker, Dst: server, Proto: "tcp", SrcPort: 61000, DstPort: 80, Flags: "S", Window: 65535, IPID: 54321}, event.ShapeZmap},
		{"hping3 -S", packettest.Packet{Src: knocker, Dst: server, Proto: "tcp", SrcPort: 2000, DstPort: 80, Flags: "S", Window: 64}, event.ShapeHping},
		{"knock udp hit", packettest.Packet{Src: knocker, Dst: server, Proto: "udp", SrcPort: 40000, DstPort: 2222, Payload: []byte{0}}, event.ShapeKnockUDP},
		{"syn-ack is no shape", func() packettest.Packet { p := linuxSYN(7000); p.Flags = "SA"; return p }(), event.ShapeUnknown},
		{"udp with data", packettest.Packet{Src: knocker, Dst: server, Proto: "udp", SrcPort: 40000, DstPort: 53, Payload: []byte("query")}, event.ShapeUnknown},
	}
	for _, tc := range tests {
		var h packet.Header
		if err := packet.Decode(layers.LinkTypeEthernet, tc.p.Ethernet(), &h); err != nil {
			t.Fatal(err)
		}
		if got := packet.Shape(&h); got != tc.want {
			t.Errorf("%s: shape %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	frame := linuxSYN(7000).Ethernet()
	var h packet.Header
	if n := testing.AllocsPerRun(100, func() { _ = packet.Decode(layers.LinkTypeEthernet, frame, &h) }); n != 0 {
		t.Fatalf("Decode allocates %.1f times per frame", n)
	}
	bad := frame[:20]
	if n := testing.AllocsPerRun(100, func() { _ = packet.Decode(layers.LinkTypeEthernet, bad, &h) }); n != 0 {
		t.Fatalf("Decode of a bad frame allocates %.1f times", n)
	}
}

// FuzzDecode checks that no frame makes Decode panic, that errors are
// *FrameError values with a reason, and that what it reads is consistent.
func FuzzDecode(f *testing.F) {
	for _, p := range []packettest.Packet{
		linuxSYN(7000),
		{Src: knocker, Dst: server, Proto: "udp", SrcPort: 1, DstPort: 2, Payload: []byte{0}},
		{Src: knocker, Dst: server, Proto: "icmp", ICMPType: 8, Payload: []byte("x")},
		{Src: "2001:db8::7", Dst: "2001:db8::10", Proto: "tcp", SrcPort: 1, DstPort: 2, Flags: "S"},
		{Src: server, Dst: knocker, Proto: "icmp", ICMPType: 3, ICMPCode: 3, Payload: linuxSYN(7).IP()[:28]},
	} {
		f.Add(uint16(layers.LinkTypeEthernet), p.Ethernet())
		f.Add(uint16(layers.LinkTypeRaw), p.IP())
		f.Add(uint16(layers.LinkTypeLinuxSLL2), sll2(0x0800, 0, p.IP()))
		f.Add(uint16(layers.LinkTypeLinuxSLL), sll(0x86dd, 0, p.IP()))
	}
	f.Add(uint16(layers.LinkTypeNull), null(2, linuxSYN(1).IP()))
	// Every frame of the real captures (testdata/captures), with its own
	// link type.
	for _, fr := range captureFrames(f) {
		f.Add(uint16(fr.link), fr.data)
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		var h packet.Header
		err := packet.Decode(layers.LinkType(link), data, &h)
		if err != nil {
			var fe *packet.FrameError
			if !errors.As(err, &fe) || fe.Reason == 0 || fe.Layer == "" {
				t.Fatalf("error %v is not a located *FrameError", err)
			}
			return
		}
		if h.Network == 0 {
			return
		}
		if !h.Src.IsValid() || !h.Dst.IsValid() {
			t.Fatal("IP packet without valid addresses")
		}
		if len(h.Payload) > len(data) || h.PayloadLen < 0 {
			t.Fatalf("payload %d bytes of a %d-byte frame (declared %d)", len(h.Payload), len(data), h.PayloadLen)
		}
		_ = packet.Shape(&h)
	})
}

type linkFrame struct {
	link layers.LinkType
	data []byte
}

// captureFrames reads every frame of testdata/captures/*/capture.pcap*.
func captureFrames(tb testing.TB) []linkFrame {
	tb.Helper()
	paths, _ := filepath.Glob("testdata/captures/*/capture.pcap*")
	if len(paths) == 0 {
		tb.Fatal("no captures in testdata/captures")
	}
	var out []linkFrame
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		var next func() ([]byte, gopacket.CaptureInfo, error)
		link := layers.LinkTypeEthernet
		if strings.HasSuffix(p, ".pcapng") {
			r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
			if err != nil {
				tb.Fatal(err)
			}
			next = r.ReadPacketData
		} else {
			r, err := pcapgo.NewReader(bytes.NewReader(data))
			if err != nil {
				tb.Fatal(err)
			}
			link, next = r.LinkType(), r.ReadPacketData
		}
		for n := 0; n < 64; n++ {
			frame, ci, err := next()
			if err != nil {
				break
			}
			lt := link
			if len(ci.AncillaryData) > 0 {
				lt = ci.AncillaryData[0].(layers.LinkType)
			}
			out = append(out, linkFrame{lt, frame})
		}
	}
	return out
}

// TestDecodeRealCaptures decodes every frame of the real captures without
// an error.
func TestDecodeRealCaptures(t *testing.T) {
	frames := captureFrames(t)
	ip := 0
	for i, fr := range frames {
		var h packet.Header
		if err := packet.Decode(fr.link, fr.data, &h); err != nil {
			t.Errorf("frame %d (link %s): %v", i, fr.link, err)
		}
		if h.Network != 0 {
			ip++
		}
	}
	if ip < len(frames)*9/10 {
		t.Errorf("only %d of %d frames carry IP", ip, len(frames))
	}
}

// BenchmarkDecodeHeaders is the hand-written decoder on an Ethernet/IPv4/TCP
// SYN; BenchmarkDecodeGopacketDLP decodes the same frame with gopacket's
// DecodingLayerParser over preallocated layers, the alternative the decoder
// was measured against.
func BenchmarkDecodeHeaders(b *testing.B) {
	frame := linuxSYN(7000).Ethernet()
	var h packet.Header
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := packet.Decode(layers.LinkTypeEthernet, frame, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGopacketDLP(b *testing.B) {
	frame := linuxSYN(7000).Ethernet()
	var (
		eth  layers.Ethernet
		ip4  layers.IPv4
		ip6  layers.IPv6
		tcp  layers.TCP
		udp  layers.UDP
		icmp layers.ICMPv4
		pl   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp, &icmp, &pl)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			b.Fatal(err)
		}
	}
}
