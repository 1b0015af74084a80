package detect_test

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
	"github.com/knockwatch/knockwatch/internal/rules"
)

const (
	attacker = "198.51.100.7"
	victim   = "203.0.113.10"
)

var base = time.Date(2025, 11, 22, 10, 15, 2, 0, time.UTC)

func ms(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

// collector gathers alerts.
type collector struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (c *collector) emit(a *alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
}

func (c *collector) by(detector string) []*alert.Alert {
	var out []*alert.Alert
	for _, a := range c.alerts {
		if a.Detector == detector {
			out = append(out, a)
		}
	}
	return out
}

// packetsToEvents runs packets through the packet decoder as a capture
// would, keeping what the built-in rules and the SPA shape ask for.
func packetsToEvents(t testing.TB, pkts []packettest.Packet) []event.Event {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	d := packet.NewDecoder(packet.Options{Interest: packet.NewInterest(rs.Prefilter(), true)})
	var evs []event.Event
	for i, p := range pkts {
		if p.Time.IsZero() {
			p.Time = ms(i)
		}
		evs, err = d.Packet(p.Time.UnixNano(), uint64(i+1), layers.LinkTypeEthernet, p.Ethernet(), evs)
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	return d.Finish(evs)
}

// runDetector feeds events to one detector.
func runDetector(d detect.Detector, evs []event.Event) {
	for i := range evs {
		d.Observe(&evs[i])
		d.Advance(evs[i].Time)
	}
	d.Flush()
}

func runMagic(t testing.TB, pkts []packettest.Packet) []*alert.Alert {
	t.Helper()
	var c collector
	d := detect.NewMagic(config.Default(), 1, detect.Deps{Emit: c.emit})
	runDetector(d, packetsToEvents(t, pkts))
	return c.by("magic")
}

// bpfdoorPayload is struct magic_packet as the leaked bpfdoor.c packs it:
// flag (4, first two bytes the filter's magic), ip (4), port (2), pass (14).
func bpfdoorPayload(magic uint16, ip string, port uint16, pass string) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint16(b[0:], magic)
	a := netip.MustParseAddr(ip).As4()
	copy(b[4:8], a[:])
	binary.BigEndian.PutUint16(b[8:], port)
	copy(b[10:], pass)
	return b
}

// reptilePayload is "<token> " followed by "<host> <port>\0" encrypted as
// Reptile's do_encrypt does (formats.md 3.2): a rolling XOR, four bytes at a
// time, with rol32(KEY ^ len, len % 13) where len is the remaining length;
// the last bytes (fewer than four) stay in clear.
func reptilePayload(token, host, port string) []byte {
	const key = 0x6de56d3b
	data := []byte(host + " " + port + "\x00")
	for i := 0; len(data)-i >= 4; i += 4 {
		n := len(data) - i
		k := bits.RotateLeft32(key^uint32(n), n%13)
		binary.LittleEndian.PutUint32(data[i:], binary.LittleEndian.Uint32(data[i:])^k)
	}
	return append([]byte(token+" "), data...)
}

func counting(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func wolPayload(mac []byte) []byte {
	p := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for range 16 {
		p = append(p, mac...)
	}
	return p
}

// synfulReplyOptions are the implant's SYN-ACK options (Mandiant's scanner
// checks them): MSS 1460, NOP, NOP, SACK permitted, NOP, window scale 5.
func synfulReplyOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{5}},
	}
}

func TestMagicRulesEachFire(t *testing.T) {
	nmapSYN := func(i int, port uint16) packettest.Packet {
		return packettest.Packet{Time: ms(i * 300), Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 45001, DstPort: port, Flags: "S", Window: 1024, Seq: 77, Options: packettest.MSSOnly()}
	}
	trigger := packettest.Packet{Src: attacker, Dst: "192.0.2.1", Proto: "tcp", SrcPort: 50000, DstPort: 80, Flags: "S", Seq: 0x10000000, Ack: 0x10000000 - 0xC123D, Window: 0x0c00, Options: packettest.MSSOnly()}
	tests := []struct {
		rule  string
		pkts  []packettest.Packet
		attrs map[string]string
	}{
		{"bpfdoor-udp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 40000, DstPort: 53, Payload: bpfdoorPayload(0x7255, "198.51.100.7", 4444, "justforfun")}},
			map[string]string{"connect_ip": "198.51.100.7", "connect_port": "4444", "password": "justforfun"}},
		{"bpfdoor-tcp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 40000, DstPort: 22, Flags: "PA", Seq: 5, Ack: 9, Window: 502, Payload: bpfdoorPayload(0x5293, "255.255.255.255", 8000, "socket")}},
			map[string]string{"connect_ip": "255.255.255.255", "password": "socket"}},
		{"bpfdoor-icmp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 1, EchoSeq: 1, Payload: bpfdoorPayload(0x7255, "198.51.100.7", 443, "justforfun")}},
			map[string]string{"connect_port": "443"}},
		{"reptile-tcp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 666, DstPort: 80, Flags: "S", IPID: 3429, TTL: 255, Window: 9965, Seq: 0x133b, Payload: reptilePayload("hax0r", "198.51.100.7", "4444")}}, nil},
		{"reptile-icmp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, ICMPCode: 8, IPID: 3429, TTL: 255, EchoID: 9965, EchoSeq: 15123, Payload: reptilePayload("hax0r", "198.51.100.7", "4444")}}, nil},
		{"reptile-udp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 666, DstPort: 53, IPID: 3429, TTL: 255, Payload: reptilePayload("hax0r", "198.51.100.7", "4444")}},
			map[string]string{"token": "hax0r"}},
		{"cd00r-sequence", []packettest.Packet{nmapSYN(0, 200), nmapSYN(1, 80), nmapSYN(2, 22), nmapSYN(3, 53), nmapSYN(4, 3)}, nil},
		{"synful-knock-trigger", []packettest.Packet{trigger}, nil},
		{"synful-knock-reply", []packettest.Packet{trigger, {Time: ms(1), Src: "192.0.2.1", Dst: attacker, Proto: "tcp", SrcPort: 80, DstPort: 50000, Flags: "SA",
			Seq: 0x10000001 + 0xC123E, Ack: 0x10000001, Window: 4128, Options: synfulReplyOptions()}}, nil},
		{"prism-icmp", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 7, EchoSeq: 1, Payload: []byte("p4ssw0rd 198.51.100.7 4444")}},
			map[string]string{"payload": "p4ssw0rd 198.51.100.7 4444"}},
		{"icmp-token-knock", []packettest.Packet{{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 7, EchoSeq: 1, Payload: []byte("open-sesame-42")}},
			map[string]string{"token": "open-sesame-42"}},
		{"icmpv6-token-knock", []packettest.Packet{{Src: "2001:db8::7", Dst: "2001:db8::10", Proto: "icmpv6", ICMPType: 128, EchoID: 7, EchoSeq: 1, Payload: []byte("open-sesame-42")}}, nil},
		{"wake-on-lan", []packettest.Packet{{Src: "192.0.2.20", Dst: "255.255.255.255", Proto: "udp", SrcPort: 50000, DstPort: 9, Payload: wolPayload([]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})}},
			map[string]string{"target_mac": "525400123456"}},
	}
	rs, _ := rules.Builtin()
	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			covered[tc.rule] = true
			got := runMagic(t, tc.pkts)
			var names []string
			for _, a := range got {
				names = append(names, a.Attributes["rule"])
			}
			want := []string{tc.rule}
			if tc.rule == "synful-knock-reply" {
				want = []string{"synful-knock-trigger", "synful-knock-reply"}
			}
			if !slices.Equal(names, want) {
				t.Fatalf("rules %v, want %v", names, want)
			}
			a := got[len(got)-1]
			r := rs.Lookup(tc.rule)
			if a.Technique != r.Technique || a.Severity != r.Severity || a.Detector != "magic" || len(a.Evidence) == 0 {
				t.Errorf("alert %+v", a)
			}
			for k, v := range tc.attrs {
				if a.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, a.Attributes[k], v)
				}
			}
		})
	}
	for _, r := range rs.Rules {
		if !covered[r.Name] {
			t.Errorf("built-in rule %s has no test packet", r.Name)
		}
	}
}

// TestMagicNoFalsePositives: ordinary packets that share a trait with a
// trigger must not match.
func TestMagicNoFalsePositives(t *testing.T) {
	linuxPing := make([]byte, 56) // iputils: struct timeval, then 0x10, 0x11, ...
	binary.LittleEndian.PutUint64(linuxPing, uint64(base.Unix()))
	for i := 16; i < 56; i++ {
		linuxPing[i] = byte(i)
	}
	quicLike := []byte{0x72, 0x55, 0x9a, 0x01, 0xc3, 0x17, 0x88, 0x00, 0x01, 0xbb, 0x00, 0x00, 0x00, 0x00}
	quicLike = append(quicLike, make([]byte, 40)...)
	pkts := []packettest.Packet{
		{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 1, EchoSeq: 1, Payload: linuxPing},
		{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 1, EchoSeq: 2, Payload: []byte("abcdefghijklmnopqrstuvwabcdefghi")}, // Windows ping
		{Src: attacker, Dst: victim, Proto: "icmp", ICMPType: 8, EchoID: 1, EchoSeq: 3, Payload: []byte("AAAAAAAAAAAAAAAA")},                 // ping -p 41
		{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 443, DstPort: 51000, Payload: quicLike},                                          // 72 55, no password
		{Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 40000, DstPort: 80, Flags: "S", Seq: 99, Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()},
		{Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 40001, DstPort: 80, Flags: "S", IPID: 3429, Window: 64240, DF: true}, // IP ID alone
		{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 40002, DstPort: 9, Payload: append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, counting(96)...)},
	}
	if got := runMagic(t, pkts); len(got) != 0 {
		for _, a := range got {
			t.Errorf("false positive: %s", a.Summary)
		}
	}
}

func TestMagicSequenceOrderAndReset(t *testing.T) {
	syn := func(i int, port uint16) packettest.Packet {
		return packettest.Packet{Time: ms(i * 100), Src: attacker, Dst: victim, Proto: "tcp", SrcPort: uint16(41000 + i), DstPort: port, Flags: "S", Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()}
	}
	tests := []struct {
		name  string
		ports []uint16
		want  int
	}{
		{"in order", []uint16{200, 80, 22, 53, 3}, 1},
		{"unrelated ports in between are ignored", []uint16{200, 443, 80, 8080, 22, 53, 3}, 1},
		{"a wrong sequence port resets", []uint16{200, 80, 53, 22, 3}, 0},
		{"restart after a reset", []uint16{200, 80, 3, 200, 80, 22, 53, 3}, 1},
		{"incomplete", []uint16{200, 80, 22, 53}, 0},
		{"twice is reported once", []uint16{200, 80, 22, 53, 3, 200, 80, 22, 53, 3}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pkts []packettest.Packet
			for i, p := range tc.ports {
				pkts = append(pkts, syn(i, p))
			}
			got := runMagic(t, pkts)
			if len(got) != tc.want {
				t.Fatalf("%d alerts, want %d", len(got), tc.want)
			}
			if tc.want == 1 {
				if s := alert.SequenceString(got[0].Sequence); s != "200/tcp,80/tcp,22/tcp,53/tcp,3/tcp" || len(got[0].Evidence) != 5 {
					t.Errorf("sequence %s evidence %v", s, got[0].Evidence)
				}
			}
		})
	}
}

// TestMagicFloodOneAlert: a flood of triggers from one source is one alert.
func TestMagicFloodOneAlert(t *testing.T) {
	var pkts []packettest.Packet
	for i := range 500 {
		pkts = append(pkts, packettest.Packet{Time: ms(i), Src: attacker, Dst: victim, Proto: "udp", SrcPort: uint16(30000 + i), DstPort: 53, Payload: bpfdoorPayload(0x7255, "198.51.100.7", 4444, "justforfun")})
	}
	if got := runMagic(t, pkts); len(got) != 1 {
		t.Fatalf("%d alerts for one source's flood, want 1", len(got))
	}
}

// TestMagicUserRules: a --rules file adds a rule, replaces a built-in one by
// name and switches one off.
func TestMagicUserRules(t *testing.T) {
	user := []byte(`version: 1
rules:
  - name: lab-udp-knock
    summary: lab knock word
    technique: T1205.001
    severity: low
    confidence: 0.5
    source: our own lab backdoor
    match:
      proto: udp
      dst_port: ["31337"]
      payload:
        - {bytes: "6b 6e 6f 63 6b"}
  - name: wake-on-lan
    disabled: true
`)
	f, err := rules.Parse("site.yaml", user)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := rules.Builtin()
	rs, err := rules.Merge(base, f)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Rules = rs
	pkts := []packettest.Packet{
		{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 40000, DstPort: 31337, Payload: []byte("knock knock")},
		{Src: "192.0.2.20", Dst: "255.255.255.255", Proto: "udp", SrcPort: 50000, DstPort: 9, Payload: wolPayload([]byte{1, 2, 3, 4, 5, 6})},
	}
	d := packet.NewDecoder(packet.Options{Interest: packet.NewInterest(rs.Prefilter(), true)})
	var evs []event.Event
	for i, p := range pkts {
		evs, _ = d.Packet(ms(i).UnixNano(), uint64(i+1), layers.LinkTypeEthernet, p.Ethernet(), evs)
	}
	evs = d.Finish(evs)
	var c collector
	runDetector(detect.NewMagic(cfg, 1, detect.Deps{Emit: c.emit}), evs)
	got := c.by("magic")
	if len(got) != 1 || got[0].Attributes["rule"] != "lab-udp-knock" || got[0].Attributes["rule_file"] != "site.yaml:3" {
		t.Fatalf("alerts %v", got)
	}
}

func BenchmarkMagicObserve(b *testing.B) {
	evs := packetsToEvents(b, []packettest.Packet{
		{Src: attacker, Dst: victim, Proto: "tcp", SrcPort: 40000, DstPort: 80, Flags: "S", Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()},
		{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 40001, DstPort: 53, Payload: []byte("q")},
	})
	d := detect.NewMagic(config.Default(), 1, detect.Deps{Emit: func(*alert.Alert) {}})
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			d.Observe(&evs[i])
		}
	}
}
