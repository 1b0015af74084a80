package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/gzip"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

var t0 = time.Date(2025, 11, 22, 10, 15, 2, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func knock(ms int, sport, dport uint16) packettest.Packet {
	return packettest.Packet{Time: at(ms), Src: "198.51.100.7", Dst: "203.0.113.10", Proto: "tcp", SrcPort: sport, DstPort: dport,
		Flags: "S", Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()}
}

func opener(t testing.TB, st *stats.Run) *source.Opener {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return &source.Opener{
		Inputs:  source.NewInputs(),
		Stats:   st,
		Packets: source.NewCaptureOpener(source.CaptureOptions{Interest: packet.NewInterest(rs.Prefilter(), true)}),
	}
}

func drain(t testing.TB, s source.Stream) []event.Event {
	t.Helper()
	var out []event.Event
	for {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Events...)
		b.Release()
	}
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// mixedPcapng writes one pcapng with an Ethernet, a Linux SLL2 and a raw-IP
// interface, one knock on each.
func mixedPcapng(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sll2ID, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	rawID, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	write := func(id int, ts time.Time, data []byte) {
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data), InterfaceIndex: id}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	write(0, at(0), knock(0, 40001, 7000).Ethernet())
	sllHdr := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
	write(sll2ID, at(1), append(sllHdr, knock(1, 40002, 8000).IP()...))
	write(rawID, at(2), knock(2, 40003, 9000).IP())
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCaptureFiles(t *testing.T) {
	pcap := packettest.EthernetPcap([]packettest.Packet{knock(0, 40001, 7000), knock(1, 40002, 8000), knock(2, 40003, 9000)})
	tests := []struct {
		name string
		data []byte
	}{
		{"knock.pcap", pcap},
		{"knock.pcap.gz", gz(pcap)},
		{"mixed.pcapng", mixedPcapng(t)},
		{"mixed.pcapng.gz", gz(mixedPcapng(t))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := stats.New()
			o := opener(t, st)
			path := writeFile(t, tc.name, tc.data)
			s, c, err := o.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			evs := drain(t, s)
			if len(evs) != 3 {
				t.Fatalf("%d events, want 3", len(evs))
			}
			for i, e := range evs {
				if want := uint16(7000 + 1000*i); e.DstPort != want || e.Action != event.ActionDenied {
					t.Errorf("event %d: port %d action %s, want %d denied", i, e.DstPort, e.Action, want)
				}
				if got, want := o.Inputs.Resolve(e.Origin), path+"#"+string(rune('1'+i)); got != want {
					t.Errorf("origin %s, want %s", got, want)
				}
			}
			if st.Records.Load() != 3 || st.Events.Load() != 3 || st.TotalErrors() != 0 {
				t.Errorf("records %d events %d errors %v", st.Records.Load(), st.Events.Load(), st.Errors())
			}
			if !strings.Contains(strings.Join(keys(st.Formats()), ","), "pcap") {
				t.Errorf("formats %v", st.Formats())
			}
		})
	}
}

func keys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCaptureBadFrames: truncated and malformed frames are counted by
// reason and located as file#frame; the good frames around them count.
func TestCaptureBadFrames(t *testing.T) {
	good := knock(0, 40001, 7000).Ethernet()
	frames := []packettest.Frame{
		{Time: at(0), Data: good},
		{Time: at(1), Data: good[:30]},                                    // truncated inside IPv4
		{Time: at(2), Data: append(append([]byte{}, good[:14]...), 0x45)}, // one byte of IP
		{Time: at(3), Data: knock(3, 40002, 8000).Ethernet()},
	}
	bad := append([]byte{}, knock(4, 40003, 9000).Ethernet()...)
	bad[14+20+12] = 0x10 // TCP data offset 1
	frames = append(frames, packettest.Frame{Time: at(4), Data: bad}, packettest.Frame{Time: at(5), Data: knock(5, 40004, 9001).Ethernet()})
	file := packettest.Pcap(layers.LinkTypeEthernet, frames)
	file = file[:len(file)-20] // the capture was cut inside the last frame

	st := stats.New()
	o := opener(t, st)
	path := writeFile(t, "bad.pcap", file)
	s, c, err := o.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := drain(t, s)
	if len(evs) != 2 || evs[0].DstPort != 7000 || evs[1].DstPort != 8000 {
		t.Fatalf("events %v", evs)
	}
	if got := st.ErrorCount(decode.ReasonTruncated); got != 3 {
		t.Errorf("truncated = %d, want 3 (two frames, one cut record): %v", got, st.ErrorSamples())
	}
	if got := st.ErrorCount(decode.ReasonBadHeader); got != 1 {
		t.Errorf("bad_header = %d, want 1: %v", got, st.ErrorSamples())
	}
	samples := strings.Join(st.ErrorSamples(), "\n")
	for _, want := range []string{path + "#2: pcap: truncated ipv4", path + "#5: pcap: bad_header tcp", path + "#6: pcap: truncated record"} {
		if !strings.Contains(samples, want) {
			t.Errorf("no error %q in:\n%s", want, samples)
		}
	}
	if st.Records.Load() != 6 {
		t.Errorf("records %d, want 6", st.Records.Load())
	}
}

func TestCaptureUnsupportedLinkType(t *testing.T) {
	file := packettest.Pcap(layers.LinkTypeIEEE802_11, []packettest.Frame{{Time: at(0), Data: []byte{1, 2, 3}}})
	o := opener(t, stats.New())
	_, _, err := o.Open(t.Context(), writeFile(t, "wifi.pcap", file))
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("error %v, want link type not supported", err)
	}
}

// TestCaptureCancel stops a large capture early without leaking the reader.
func TestCaptureCancel(t *testing.T) {
	var pkts []packettest.Packet
	for i := range 20000 {
		pkts = append(pkts, knock(i, uint16(1000+i%60000), uint16(1+i%60000)))
	}
	file := packettest.EthernetPcap(pkts)
	ctx, cancel := context.WithCancel(t.Context())
	o := opener(t, stats.New())
	s, c, err := o.Open(ctx, writeFile(t, "big.pcap", file))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() {
		for {
			b, err := s.Next()
			if err != nil {
				close(done)
				return
			}
			b.Release()
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not end after cancel")
	}
}
