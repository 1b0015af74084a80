package hunt

import (
	"bufio"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// spoofedFlood writes n firewall LOG lines of SYNs from n distinct
// sources (a bijective mix of the line number over the IPv4 space), one
// microsecond apart in event time.
func spoofedFlood(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	start := time.Date(2025, 11, 22, 10, 15, 0, 0, time.UTC)
	var line []byte
	for i := 0; i < n; i++ {
		t := start.Add(time.Duration(i) * time.Microsecond)
		x := uint32(i)*2654435761 + 0x5bd1e995 // odd multiplier: a bijection on uint32
		line = line[:0]
		line = t.AppendFormat(line, time.Stamp)
		line = append(line, " gw01 kernel: ["...)
		up := 4821_000000 + int64(i)
		line = strconv.AppendInt(line, up/1000000, 10)
		line = append(line, '.')
		frac := strconv.FormatInt(1000000+up%1000000, 10)[1:]
		line = append(line, frac...)
		line = append(line, "] FLOOD-DROP IN=eth0 OUT= SRC="...)
		for k := 3; k >= 0; k-- {
			line = strconv.AppendUint(line, uint64(byte(x>>(8*k))), 10)
			if k > 0 {
				line = append(line, '.')
			}
		}
		line = append(line, " DST=203.0.113.10 LEN=40 TOS=0x00 PREC=0x00 TTL=52 ID=1 PROTO=TCP SPT=1234 DPT="...)
		line = strconv.AppendUint(line, uint64(1+x%65535), 10)
		line = append(line, " WINDOW=512 RES=0x00 SYN URGP=0\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// TestSpoofedFloodMemory replays 10 million distinct spoofed sources
// through a whole hunt (decode, engine, detectors) and checks that the
// process's peak RSS stays under state.max_bytes, with the state evicted
// and counted rather than grown.
func TestSpoofedFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 10 million lines")
	}
	if testutil.Race {
		t.Skip("the race detector's shadow memory is not the sensor's: RSS is measured without it")
	}
	sources := floodSources()
	cfg := config.Default()
	maxBytes := int64(cfg.State.MaxBytes)
	old := debug.SetMemoryLimit(maxBytes * 9 / 10) // as the CLI does
	defer debug.SetMemoryLimit(old)

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(spoofedFlood(pw, sources)) }()
	start := time.Now()
	res, err := Run(context.Background(), Options{Paths: []string{"-"}, Stdin: pr, Config: cfg, Location: time.UTC, Year: 2025})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	runtime.GC()
	peak := peakRSS(t)
	var tracked int64
	var evicted uint64
	for _, s := range res.State {
		tracked += s.Sources
		evicted += s.Evictions
	}
	t.Logf("%d lines in %s (%.0f lines/s); peak RSS %d MB (cap %d MB); %d sources tracked at the end, %d evicted",
		res.Stats.Records.Load(), elapsed.Round(time.Millisecond), float64(res.Stats.Records.Load())/elapsed.Seconds(), peak>>20, maxBytes>>20, tracked, evicted)
	if got := res.Stats.Events.Load(); got != int64(sources) {
		t.Fatalf("%d events, want %d", got, sources)
	}
	if peak > maxBytes {
		t.Errorf("peak RSS %d MB over the cap of %d MB", peak>>20, maxBytes>>20)
	}
	if evicted < uint64(sources)/2 {
		t.Errorf("only %d evictions for %d distinct sources: state is not capped", evicted, sources)
	}
	for _, a := range res.Alerts {
		if a.Detector == "sequence" {
			t.Errorf("a flood of single SYNs raised a knock alert: %s", a.Summary)
			break
		}
	}
}

// peakRSS reads the process's peak resident set size (VmHWM).
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/self/status")
	return 0
}

// floodSources is the number of spoofed sources, 10 million unless
// KNOCKWATCH_FLOOD_SOURCES says otherwise (for profiling).
func floodSources() int {
	if v, err := strconv.Atoi(os.Getenv("KNOCKWATCH_FLOOD_SOURCES")); err == nil && v > 0 {
		return v
	}
	return 10_000_000
}
