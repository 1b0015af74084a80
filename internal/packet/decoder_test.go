package packet_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
	"github.com/knockwatch/knockwatch/internal/rules"
)

var t0 = time.Date(2025, 11, 22, 10, 15, 2, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// run feeds packets through a Decoder and returns every event.
func run(t testing.TB, d *packet.Decoder, pkts []packettest.Packet) []event.Event {
	t.Helper()
	var evs []event.Event
	for i, p := range pkts {
		var err error
		evs, err = d.Packet(p.Time.UnixNano(), uint64(i+1), layers.LinkTypeEthernet, p.Ethernet(), evs)
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	return d.Finish(evs)
}

func interest(t testing.TB) *packet.Interest {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return packet.NewInterest(rs.Prefilter(), true)
}

type evSummary struct {
	frame  uint64
	dport  uint16
	proto  event.Proto
	action event.Action
	flags  event.TCPFlags
}

func summarize(evs []event.Event) []evSummary {
	var out []evSummary
	for _, e := range evs {
		out = append(out, evSummary{e.Origin.Index, e.DstPort, e.Proto, e.Action, e.TCPFlags})
	}
	return out
}

func synTo(ms int, sport, dport uint16) packettest.Packet {
	p := linuxSYN(dport)
	p.Time, p.SrcPort = at(ms), sport
	return p
}

func reply(ms int, to packettest.Packet, flags string) packettest.Packet {
	return packettest.Packet{Time: at(ms), Src: to.Dst, Dst: to.Src, Proto: to.Proto, SrcPort: to.DstPort, DstPort: to.SrcPort, Flags: flags, Ack: to.Seq + 1}
}

func TestDecoderClosedAndOpen(t *testing.T) {
	k1, k2, k3 := synTo(0, 40001, 7000), synTo(1, 40002, 8000), synTo(2, 40003, 9000)
	conn := synTo(900, 40004, 22)
	udpHit := packettest.Packet{Time: at(3), Src: knocker, Dst: server, Proto: "udp", SrcPort: 40005, DstPort: 2222, Payload: []byte{0}}
	unreach := packettest.Packet{Time: at(4), Src: server, Dst: knocker, Proto: "icmp", ICMPType: 3, ICMPCode: 3, Payload: udpHit.IP()[:28]}
	dns := packettest.Packet{Time: at(5), Src: knocker, Dst: server, Proto: "udp", SrcPort: 40006, DstPort: 53, Payload: []byte("query")}
	dnsReply := packettest.Packet{Time: at(6), Src: server, Dst: knocker, Proto: "udp", SrcPort: 53, DstPort: 40006, Payload: []byte("answer")}
	ping := packettest.Packet{Time: at(7), Src: knocker, Dst: server, Proto: "icmp", ICMPType: 8, EchoID: 1, EchoSeq: 1, Payload: make([]byte, 56)}
	pkts := []packettest.Packet{
		k1,                     // 1: answered by RST
		k2,                     // 2: never answered
		reply(1, k1, "RA"),     // 3
		k3,                     // 4: answered by RST
		reply(2, k3, "RA"),     // 5
		udpHit,                 // 6: ICMP port unreachable
		unreach,                // 7
		dns,                    // 8: answered: an exchange
		dnsReply,               // 9
		ping,                   // 10: an ICMP attempt at once
		conn,                   // 11: answered by SYN-ACK
		reply(901, conn, "SA"), // 12
		{Time: at(902), Src: knocker, Dst: server, Proto: "tcp", SrcPort: 40004, DstPort: 22, Flags: "A"}, // 13: mid-flow, no event
	}
	d := packet.NewDecoder(packet.Options{Interest: interest(t)})
	got := summarize(run(t, d, pkts))
	want := []evSummary{
		{1, 7000, event.ProtoTCP, event.ActionDenied, event.FlagSYN},
		{2, 8000, event.ProtoTCP, event.ActionDenied, event.FlagSYN},
		{4, 9000, event.ProtoTCP, event.ActionDenied, event.FlagSYN},
		{6, 2222, event.ProtoUDP, event.ActionDenied, 0},
		{8, 53, event.ProtoUDP, event.ActionAllowed, 0},
		{10, 0, event.ProtoICMP, event.ActionUnknown, 0},
		{11, 22, event.ProtoTCP, event.ActionAllowed, event.FlagSYN},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	st := d.Stats()
	if st.Attempts != 7 || st.Allowed != 2 || st.Frames != 13 {
		t.Errorf("stats %+v", st)
	}
}

// TestDecoderUnseenRequests: answers whose requests came before the capture
// (DNS replies from port 53 to ephemeral ports) are not attempts.
func TestDecoderUnseenRequests(t *testing.T) {
	var pkts []packettest.Packet
	for i, port := range []uint16{40001, 40002, 40003} {
		pkts = append(pkts, packettest.Packet{Time: at(i), Src: "192.0.2.53", Dst: knocker, Proto: "udp", SrcPort: 53, DstPort: port, Payload: []byte("answer")})
	}
	// A datagram from an ephemeral port to a service port is an attempt.
	pkts = append(pkts, packettest.Packet{Time: at(5), Src: knocker, Dst: server, Proto: "udp", SrcPort: 40009, DstPort: 123, Payload: []byte("ntp")})
	d := packet.NewDecoder(packet.Options{Interest: interest(t)})
	got := summarize(run(t, d, pkts))
	want := []evSummary{{4, 123, event.ProtoUDP, event.ActionDenied, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestDecoderTimeOrder checks that an unanswered attempt holds back the
// events after it until its answer window ends, so events leave in time
// order, and that it leaves as soon as time passes the window.
func TestDecoderTimeOrder(t *testing.T) {
	d := packet.NewDecoder(packet.Options{AnswerTimeout: 500 * time.Millisecond, Interest: interest(t)})
	a := synTo(0, 40001, 7000)
	b := synTo(100, 40002, 8000)
	var evs []event.Event
	evs, _ = d.Packet(a.Time.UnixNano(), 1, layers.LinkTypeEthernet, a.Ethernet(), evs)
	rb := reply(150, b, "RA")
	evs, _ = d.Packet(b.Time.UnixNano(), 2, layers.LinkTypeEthernet, b.Ethernet(), evs)
	evs, _ = d.Packet(rb.Time.UnixNano(), 3, layers.LinkTypeEthernet, rb.Ethernet(), evs)
	if len(evs) != 0 {
		t.Fatalf("events left before the first attempt's window ended: %v", summarize(evs))
	}
	evs = d.Advance(at(499).UnixNano(), evs)
	if len(evs) != 0 {
		t.Fatalf("events left at 499 ms: %v", summarize(evs))
	}
	evs = d.Advance(at(500).UnixNano(), evs)
	if len(evs) != 2 || evs[0].Origin.Index != 1 || evs[1].Origin.Index != 2 {
		t.Fatalf("at 500 ms: %v", summarize(evs))
	}
	if evs[0].Action != event.ActionDenied || evs[1].Action != event.ActionDenied {
		t.Fatalf("actions %v", summarize(evs))
	}
}

func TestDecoderLateAnswerAndRetransmit(t *testing.T) {
	s := synTo(0, 40001, 22)
	retrans := s
	retrans.Time = at(1000)
	pkts := []packettest.Packet{s, retrans, reply(1200, s, "SA")}
	d := packet.NewDecoder(packet.Options{AnswerTimeout: 500 * time.Millisecond})
	got := summarize(run(t, d, pkts))
	want := []evSummary{
		{1, 22, event.ProtoTCP, event.ActionDenied, event.FlagSYN},  // settled unanswered at 500 ms
		{3, 22, event.ProtoTCP, event.ActionAllowed, event.FlagSYN}, // the late SYN-ACK: a connection
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	if st := d.Stats(); st.Retransmits != 1 || st.Late != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDecoderKeepsInterestingPayloads(t *testing.T) {
	spa := []byte("9b4jcteBbUU89tWGpaazasagF2PbOayDptxjpBURcR5CvnORivPbX1738ESbc6KmV84yM2vybf3MQ4EozoWfgSW/8aogqAWDFlikYO7puznbhiXXp4dV8j6LyfnzQ71zbOtY1YONYKagk0JFtii7R01Pms4XGd7xeRCzzYh7oMfhJuNTEuWypuENJgzBZzx49rRQ3kUBdVWTaJ089Blyfn+0ou/scDuxw")
	pkts := []packettest.Packet{
		{Time: at(0), Src: knocker, Dst: server, Proto: "udp", SrcPort: 40000, DstPort: 62201, Payload: spa},
		{Time: at(1), Src: knocker, Dst: server, Proto: "udp", SrcPort: 40001, DstPort: 53, Payload: []byte("ordinary query")},
		// BPFDoor over an established TCP connection (mid-flow data).
		{Time: at(2), Src: knocker, Dst: server, Proto: "tcp", SrcPort: 40002, DstPort: 443, Flags: "PA", Payload: append([]byte{0x52, 0x93, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x11, 0x5c}, "justforfun\x00\x00\x00\x00"...)},
		{Time: at(3), Src: knocker, Dst: server, Proto: "tcp", SrcPort: 40003, DstPort: 443, Flags: "PA", Payload: []byte("GET / HTTP/1.1\r\n")},
	}
	d := packet.NewDecoder(packet.Options{Interest: interest(t)})
	evs := run(t, d, pkts)
	kept := map[uint64]string{}
	for _, e := range evs {
		if e.Payload != nil {
			kept[e.Origin.Index] = string(e.Payload)
		}
	}
	if kept[1] != string(spa) || kept[3] == "" || len(kept) != 2 {
		t.Fatalf("kept payloads %v", kept)
	}
	if len(evs) != 3 { // two UDP attempts and the BPFDoor segment
		t.Fatalf("events %v", summarize(evs))
	}
}

// TestDecoderPayloadOwnership checks that a kept payload does not alias the
// frame buffer: the reader overwrites it for the next frame.
func TestDecoderPayloadOwnership(t *testing.T) {
	p := packettest.Packet{Time: at(0), Src: knocker, Dst: server, Proto: "udp", SrcPort: 1, DstPort: 9, Payload: append(bytesRepeat(0xff, 6), bytesRepeat(0x11, 96)...)}
	frame := p.Ethernet()
	d := packet.NewDecoder(packet.Options{Interest: interest(t)})
	evs, err := d.Packet(p.Time.UnixNano(), 1, layers.LinkTypeEthernet, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs = d.Finish(evs)
	clear(frame)
	if len(evs) != 1 || len(evs[0].Payload) != 102 || evs[0].Payload[0] != 0xff {
		t.Fatalf("payload changed with the frame buffer: %v", evs)
	}
}

func bytesRepeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestDecoderSteadyStateAllocs: ordinary traffic (connections, data, RSTs,
// DNS) costs no allocation per packet once the tables have grown.
func TestDecoderSteadyStateAllocs(t *testing.T) {
	frames, times := trafficMix(2000)
	d := packet.NewDecoder(packet.Options{Interest: interest(t)})
	evs := make([]event.Event, 0, 4096)
	i := 0
	step := func() {
		f := i % len(frames)
		var err error
		evs, err = d.Packet(times[f]+int64(i/len(frames))*int64(time.Minute), uint64(i), layers.LinkTypeEthernet, frames[f], evs[:0])
		if err != nil {
			t.Fatal(err)
		}
		i++
	}
	for range 3 * len(frames) {
		step()
	}
	if n := testing.AllocsPerRun(5000, step); n != 0 {
		t.Fatalf("%.3f allocations per packet in steady state", n)
	}
}

// trafficMix is a server's ordinary traffic: TCP connections with data,
// closed-port SYNs answered by RST, DNS exchanges and pings.
func trafficMix(n int) ([][]byte, []int64) {
	var frames [][]byte
	var times []int64
	ms := 0
	add := func(p packettest.Packet) {
		p.Time = at(ms)
		frames = append(frames, p.Ethernet())
		times = append(times, p.Time.UnixNano())
	}
	for c := 0; len(frames) < n; c++ {
		client := fmt.Sprintf("192.0.2.%d", 1+c%200)
		sport := uint16(30000 + c%30000)
		syn := packettest.Packet{Src: client, Dst: server, Proto: "tcp", SrcPort: sport, DstPort: 443, Flags: "S", Seq: 1, Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()}
		add(syn)
		add(packettest.Packet{Src: server, Dst: client, Proto: "tcp", SrcPort: 443, DstPort: sport, Flags: "SA", Seq: 9, Ack: 2, Window: 65160, DF: true})
		for k := range 16 {
			add(packettest.Packet{Src: client, Dst: server, Proto: "tcp", SrcPort: sport, DstPort: 443, Flags: "PA", Seq: uint32(2 + k*100), Ack: 10, Window: 502, DF: true, Payload: make([]byte, 100)})
			add(packettest.Packet{Src: server, Dst: client, Proto: "tcp", SrcPort: 443, DstPort: sport, Flags: "A", Seq: 10, Ack: uint32(102 + k*100), Window: 509, DF: true})
		}
		add(packettest.Packet{Src: client, Dst: server, Proto: "tcp", SrcPort: sport + 1, DstPort: 3389, Flags: "S", Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()})
		add(packettest.Packet{Src: server, Dst: client, Proto: "tcp", SrcPort: 3389, DstPort: sport + 1, Flags: "RA", Ack: 1})
		add(packettest.Packet{Src: client, Dst: server, Proto: "udp", SrcPort: sport + 2, DstPort: 53, Payload: []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")})
		add(packettest.Packet{Src: server, Dst: client, Proto: "udp", SrcPort: 53, DstPort: sport + 2, Payload: make([]byte, 45)})
		ms += 3
	}
	return frames, times
}

// TestFlowTableFloodFlat feeds a SYN flood from random spoofed sources and
// checks that the flow table stays at its cap and the heap stays flat.
func TestFlowTableFloodFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	const flowCap = 1 << 14
	d := packet.NewDecoder(packet.Options{FlowCap: flowCap, MaxPending: 1 << 14, Interest: interest(t)})
	r := rand.New(rand.NewPCG(1, 2))
	tmpl := linuxSYN(7000).Ethernet()
	evs := make([]event.Event, 0, 1<<15)
	ts := t0.UnixNano()
	flood := func(n int) {
		for range n {
			f := tmpl
			// Random spoofed source address and port, written into the
			// template (checksums do not matter to the decoder).
			a := r.Uint32()
			f[26], f[27], f[28], f[29] = byte(a>>24), byte(a>>16), byte(a>>8), byte(a)
			sp := uint16(r.Uint32())
			f[34], f[35] = byte(sp>>8), byte(sp)
			ts += 200 // 5 M packets/s
			var err error
			evs, err = d.Packet(ts, 1, layers.LinkTypeEthernet, f, evs[:0])
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	flood(200_000)
	before := heap()
	flood(1_000_000)
	after := heap()
	st := d.Stats()
	if st.Flows > flowCap {
		t.Fatalf("flow table holds %d flows, cap %d", st.Flows, flowCap)
	}
	if st.FlowEvictions == 0 || st.Forced == 0 {
		t.Fatalf("a flood beyond the cap must evict: %+v", st)
	}
	growth := int64(after) - int64(before)
	t.Logf("heap %d -> %d bytes after 1M more spoofed SYNs; flows %d/%d, evictions %d, forced %d, held max %d",
		before, after, st.Flows, flowCap, st.FlowEvictions, st.Forced, st.HeldMax)
	if growth > 1<<20 {
		t.Fatalf("heap grew by %d bytes under the flood", growth)
	}
}

// FuzzDecoderFrames runs a sequence of frames (each prefixed by its length
// byte) through a Decoder: no panic, events in time order, never more held
// than the cap.
func FuzzDecoderFrames(f *testing.F) {
	frames, _ := trafficMix(40)
	var seed []byte
	for _, fr := range frames[:40] {
		if len(fr) < 256 {
			seed = append(seed, byte(len(fr)))
			seed = append(seed, fr...)
		}
	}
	f.Add(seed)
	f.Add(append([]byte{byte(len(frames[0]))}, frames[0]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := packet.NewDecoder(packet.Options{FlowCap: 8, MaxPending: 16, AnswerTimeout: 3 * time.Millisecond, Interest: interest(t)})
		var evs []event.Event
		ts := t0.UnixNano()
		for n := uint64(1); len(data) > 0; n++ {
			l := int(data[0])
			data = data[1:]
			l = min(l, len(data))
			ts += int64(time.Millisecond)
			evs, _ = d.Packet(ts, n, layers.LinkTypeEthernet, data[:l], evs)
			data = data[l:]
		}
		evs = d.Finish(evs)
		for i := 1; i < len(evs); i++ {
			if evs[i].Time < evs[i-1].Time {
				t.Fatalf("event %d at %d before event %d at %d", i, evs[i].Time, i-1, evs[i-1].Time)
			}
		}
		if st := d.Stats(); st.Flows > 8 || st.HeldMax > 16 {
			t.Fatalf("caps exceeded: %+v", st)
		}
	})
}

// TestDecoderHeldCap: with every attempt unanswered and the queue at its
// cap, the oldest is settled early and counted; nothing more is held.
func TestDecoderHeldCap(t *testing.T) {
	d := packet.NewDecoder(packet.Options{MaxPending: 16, Interest: interest(t)})
	var pkts []packettest.Packet
	for i := range 100 {
		pkts = append(pkts, synTo(i, uint16(20000+i), uint16(1000+i)))
	}
	evs := run(t, d, pkts)
	st := d.Stats()
	if len(evs) != 100 || st.HeldMax > 16 || st.Forced != 100-16 {
		t.Fatalf("%d events, stats %+v", len(evs), st)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time < evs[i-1].Time {
			t.Fatal("out of order")
		}
	}
}
