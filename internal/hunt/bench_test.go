package hunt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
)

// benchFileSize is the size of the log BenchmarkHuntFile reads: 1 GB, or
// KNOCKWATCH_BENCH_BYTES.
func benchFileSize() int64 {
	if v, err := strconv.ParseInt(os.Getenv("KNOCKWATCH_BENCH_BYTES"), 10, 64); err == nil && v > 0 {
		return v
	}
	return 1 << 30
}

// writeBusyLog writes a kern.log of at least size bytes: 4096 sources
// knocking and probing one gateway, one line every 20µs of event time.
func writeBusyLog(path string, size int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC)
	var written, lines int64
	for i := 0; written < size; i++ {
		src := i % 4096
		t := start.Add(time.Duration(i) * 20 * time.Microsecond)
		up := 4821 + float64(i)*20e-6
		port := 7000 + (i/4096)%16*1000 + src%7
		n, err := fmt.Fprintf(w, "%s gw01 kernel: [%12.6f] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.%d.%d DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0\n",
			t.Format(time.Stamp), up, src/250, src%250+1, i%65536, 40000+i%20000, port)
		if err != nil {
			return 0, err
		}
		written += int64(n)
		lines++
	}
	return lines, w.Flush()
}

// BenchmarkHuntFile runs the whole hunt (read, chunk, decode in parallel,
// merge, route to shards, detect) over one large log file with 1 and with
// all cores, to show how it scales. The file is 1 GB unless
// KNOCKWATCH_BENCH_BYTES says otherwise.
func BenchmarkHuntFile(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "kern.log")
	lines, err := writeBusyLog(path, benchFileSize())
	if err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	for _, cores := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("cores=%d", cores), func(b *testing.B) {
			old := runtime.GOMAXPROCS(cores)
			defer runtime.GOMAXPROCS(old)
			b.SetBytes(st.Size())
			for b.Loop() {
				res, err := Run(context.Background(), Options{Paths: []string{path}, Config: config.Default(), Location: time.UTC, Year: 2025})
				if err != nil {
					b.Fatal(err)
				}
				if res.Stats.Records.Load() != lines {
					b.Fatalf("%d records, want %d", res.Stats.Records.Load(), lines)
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
