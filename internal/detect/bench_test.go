package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
)

// firewallLog renders n kernel LOG lines of a busy gateway: 4096 sources,
// each sending short bursts to a few ports (knock-like, scan-like and
// single probes), one line every 50µs of event time.
func firewallLog(n int) [][]byte {
	// One contiguous buffer sliced into lines, as a hunt's read chunks are.
	var buf []byte
	ends := make([]int, n)
	t0 := time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range ends {
		src := i % 4096
		t := t0.Add(time.Duration(i) * 50 * time.Microsecond)
		up := float64(t.Sub(t0).Microseconds())/1e6 + 4821
		port := 7000 + (i/4096)%16*1000 + src%7
		proto := "TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0"
		ln := 60
		if i%5 == 0 {
			proto = "UDP SPT=%d DPT=%d LEN=9"
			ln = 29
		}
		buf = fmt.Appendf(buf, "%s gw01 kernel: [%12.6f] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.%d.%d DST=203.0.113.10 LEN=%d TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO="+proto,
			t.Format(time.Stamp), up, src/250, src%250+1, ln, i%65536, 40000+i%20000, port)
		ends[i] = len(buf)
		buf = append(buf, '\n')
	}
	lines := make([][]byte, n)
	start := 0
	for i, end := range ends {
		lines[i] = buf[start:end:end]
		start = end + 1
	}
	return lines
}

type nopOrigins struct{}

func (nopOrigins) Resolve(o event.Origin) string { return "bench" }

// BenchmarkDecodeDetect measures the hot path of a hunt on one core:
// decoding netfilter LOG lines from memory and running the sequence
// detector over the events (the target: ≥ 2,000,000 lines/s with
// zero allocations per line in steady state).
func BenchmarkDecodeDetect(b *testing.B) {
	lines := firewallLog(1 << 16)
	f, err := decode.Lookup("syslog")
	if err != nil {
		b.Fatal(err)
	}
	dec := f.New(decode.Options{Reference: time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC), Location: time.UTC})
	alerts := 0
	det := NewSequence(config.Default(), 1, Deps{Emit: func(*alert.Alert) { alerts++ }, Origins: nopOrigins{}})
	var size int64
	for _, l := range lines {
		size += int64(len(l) + 1)
	}
	evs := make([]event.Event, 0, 4)
	// Warm the state table and the decoder caches.
	for i, l := range lines {
		evs, _ = dec.Decode(l, event.Origin{Index: uint64(i)}, evs[:0])
		for k := range evs {
			det.Observe(&evs[k])
		}
	}
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	i := 0
	var shift int64
	for b.Loop() {
		l := lines[i&(len(lines)-1)]
		evs, _ = dec.Decode(l, event.Origin{Index: uint64(i)}, evs[:0])
		for k := range evs {
			// Replays of the log move forward in time, as a longer log would.
			evs[k].Time += shift
			det.Observe(&evs[k])
		}
		i++
		if i&(len(lines)-1) == 0 {
			shift += int64(len(lines)) * 50 * int64(time.Microsecond)
			det.Advance(evs[0].Time)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// TestDecodeDetectAllocs: once the state table, the deadline wheel and the
// decoder's caches are warm, decoding a line and running the sequence
// detector over it allocates nothing. (Findings allocate; the probes here
// raise none.)
func TestDecodeDetectAllocs(t *testing.T) {
	f, err := decode.Lookup("syslog")
	if err != nil {
		t.Fatal(err)
	}
	dec := f.New(decode.Options{Reference: time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC), Location: time.UTC})
	det := NewSequence(config.Default(), 1, Deps{Emit: func(a *alert.Alert) { t.Errorf("unexpected finding: %s", a.Summary) }, Origins: nopOrigins{}})
	// 1024 sources, each probing one closed port again and again: the
	// steady traffic of a gateway, with bursts opening, settling and closing.
	var lines [][]byte
	t0 := time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 1<<14; i++ {
		src := i % 1024
		ts := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		lines = append(lines, fmt.Appendf(nil, "%s gw01 kernel: KNOCK-DROP IN=eth0 OUT= SRC=198.51.%d.%d DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
			ts.Format(time.StampMilli), src/250, src%250+1, 40000+i%20000, 5000+src))
	}
	evs := make([]event.Event, 0, 4)
	var shift int64
	i := 0
	step := func() {
		evs, _ = dec.Decode(lines[i%len(lines)], event.Origin{Index: uint64(i)}, evs[:0])
		for k := range evs {
			evs[k].Time += shift
			det.Observe(&evs[k])
		}
		i++
		if i%len(lines) == 0 {
			shift += int64(len(lines)) * 5 * int64(time.Millisecond)
			det.Advance(evs[0].Time)
		}
	}
	for n := 0; n < 4*len(lines); n++ { // four laps of the log: every structure at its size
		step()
	}
	if a := testing.AllocsPerRun(len(lines), step); a != 0 {
		t.Errorf("decode+detect allocates %.2f times per line in steady state, want 0", a)
	}
}
