package packet_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
)

// pcapOf writes frames (with their times) as an in-memory pcap file.
func pcapOf(frames [][]byte, times []int64) []byte {
	fs := make([]packettest.Frame, len(frames))
	for i := range frames {
		fs[i] = packettest.Frame{Time: time.Unix(0, times[i]), Data: frames[i]}
	}
	return packettest.Pcap(layers.LinkTypeEthernet, fs)
}

// pipeline is what `hunt` does per capture on one core: read the pcap,
// decode, track flows, and run every detector of one engine shard.
type pipeline struct {
	dec  *packet.Decoder
	dets []detect.Detector
	evs  []event.Event
	// offset shifts each pass of the same file forward in time, so state
	// sees time move on rather than repeat.
	offset int64
}

func newPipeline(tb testing.TB) *pipeline {
	cfg := config.Default()
	cfg.State.MaxBytes = 64 << 20
	return &pipeline{
		dec:  packet.NewDecoder(packet.Options{Interest: interest(tb)}),
		dets: detect.New(cfg, 1, detect.Deps{Emit: func(*alert.Alert) {}}),
		evs:  make([]event.Event, 0, 4096),
	}
}

// pass reads the whole file once and returns the packets read.
func (p *pipeline) pass(tb testing.TB, data []byte, span int64) int {
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for {
		frame, ci, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		n++
		ts := ci.Timestamp.UnixNano() + p.offset
		p.evs, _ = p.dec.Packet(ts, uint64(n), layers.LinkTypeEthernet, frame, p.evs[:0])
		for i := range p.evs {
			for _, d := range p.dets {
				d.Observe(&p.evs[i])
			}
		}
		if n%1024 == 0 {
			for _, d := range p.dets {
				d.Advance(ts)
			}
		}
	}
	p.offset += span
	return n
}

func benchPipeline(b *testing.B, frames [][]byte, times []int64, detectors bool) {
	data := pcapOf(frames, times)
	span := times[len(times)-1] - times[0] + int64(time.Second)
	p := newPipeline(b)
	if !detectors {
		p.dets = nil
	}
	p.pass(b, data, span) // warm the tables up: steady state
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	packets := 0
	start := time.Now()
	for b.Loop() {
		packets += p.pass(b, data, span)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(packets)/elapsed.Seconds(), "packets/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(packets), "ns/packet")
}

// BenchmarkPcapDecodeDetect: a server's ordinary traffic (trafficMix: TCP
// connections with data, closed-port SYNs answered by RST, DNS exchanges;
// about one packet in ten is an event) read from a pcap in memory, decoded,
// flow-tracked and run through every detector, on one goroutine.
func BenchmarkPcapDecodeDetect(b *testing.B) {
	frames, times := trafficMix(100_000)
	benchPipeline(b, frames, times, true)
}

// BenchmarkPcapDecodeDetectSYNFlood: the worst case, every packet a SYN from
// a random spoofed source, so every packet is an attempt, a flow-table
// insert (and eviction) and a new source for every detector.
func BenchmarkPcapDecodeDetectSYNFlood(b *testing.B) {
	frames, times := synFlood(100_000)
	benchPipeline(b, frames, times, true)
}

// BenchmarkPcapDecodeSYNFlood is the same flood through the packet decoder
// and flow table alone, without the detectors.
func BenchmarkPcapDecodeSYNFlood(b *testing.B) {
	frames, times := synFlood(100_000)
	benchPipeline(b, frames, times, false)
}

func synFlood(n int) ([][]byte, []int64) {
	r := rand.New(rand.NewPCG(3, 4))
	tmpl := linuxSYN(7000).Ethernet()
	var frames [][]byte
	var times []int64
	for i := range n {
		f := append([]byte(nil), tmpl...)
		a := r.Uint32()
		f[26], f[27], f[28], f[29] = byte(a>>24), byte(a>>16), byte(a>>8), byte(a)
		f[36], f[37] = byte(r.Uint32()), byte(r.Uint32()) // destination port
		frames = append(frames, f)
		times = append(times, t0.UnixNano()+int64(i)*2000)
	}
	return frames, times
}

// TestPcapDecodeDetectAllocs asserts the benchmark's steady state: after a
// warm-up pass, a pass over 40,000 packets of ordinary traffic allocates
// only what opening the reader costs, nothing per packet.
func TestPcapDecodeDetectAllocs(t *testing.T) {
	frames, times := trafficMix(40_000)
	data := pcapOf(frames, times)
	span := times[len(times)-1] - times[0] + int64(time.Second)
	p := newPipeline(t)
	p.pass(t, data, span)
	p.pass(t, data, span)
	allocs := testing.AllocsPerRun(3, func() { p.pass(t, data, span) })
	if perPacket := allocs / float64(len(frames)); allocs > 16 {
		t.Fatalf("%.0f allocations per pass of %d packets (%.5f per packet)", allocs, len(frames), perPacket)
	}
}
