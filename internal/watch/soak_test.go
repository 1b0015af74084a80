package watch

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/testutil"
)

var (
	soakFor   = flag.Duration("soak", 0, "run the soak benchmark for this long (TestSoak; 0: a 4s smoke run)")
	soakConns = flag.Int("soak-conns", 4, "TCP connections streaming firewall lines in the soak")
	soakRate  = flag.Int("soak-rate", 0, "lines per second the soak sends in all (0: as fast as the sensor takes them)")
	soakLate  = flag.Duration("soak-lateness", 0, "watch.lateness in the soak (0: the default)")
)

// TestSoak streams firewall lines into the syslog listener of a real
// knockwatch watch on loopback (TCP, LF framing, several connections, as
// fast as it accepts them unless -soak-rate is set) for a bounded time,
// with a knock from a new source every half second on its own connection,
// and reports: lines accepted per second, the latency from a knock's
// completing line to its alert on the sensor's stdout, and the sensor's
// RSS every second.
//
//	go test ./internal/watch -run TestSoak -soak 60s -v
func TestSoak(t *testing.T) {
	d := *soakFor
	if d == 0 {
		d = 4 * time.Second
	}
	bin := testutil.Binary(t)
	dir := t.TempDir()
	port, mport := testutil.FreePort(t), testutil.FreePort(t)
	lateness := ""
	if *soakLate > 0 {
		lateness = "  lateness: " + soakLate.String() + "\n"
	}
	cfg := filepath.Join(dir, "knockwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
state:
  max_bytes: 128MB
watch:
  state_dir: %s/state
  metrics_listen: 127.0.0.1:%d
%s  inputs:
    - {name: syslog, type: syslog, listen: "127.0.0.1:%d", protocols: [tcp], timezone: UTC}
  sinks:
    - {name: stdout, type: jsonl, path: "-"}
`, dir, mport, lateness, port)), 0o644)
	cmd := exec.Command(bin, "watch", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "knockwatch.log"))
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitUntil(t, "the listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// Alerts as they come out, with the time they came.
	var mu sync.Mutex
	alertAt := map[string]time.Time{} // knock source -> arrival
	alertsOut := 0
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			now := time.Now()
			var a struct {
				Detector string `json:"detector"`
				Src      string `json:"src"`
			}
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue
			}
			mu.Lock()
			alertsOut++
			if a.Detector == "sequence" && strings.HasPrefix(a.Src, "198.51.") {
				if _, ok := alertAt[a.Src]; !ok {
					alertAt[a.Src] = now
				}
			}
			mu.Unlock()
		}
	}()

	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	// Noise: firewall lines from a pool of 65536 sources scanning random
	// ports, as a busy perimeter logs them.
	perConn := 0
	if *soakRate > 0 {
		perConn = max(*soakRate / *soakConns, 1)
	}
	for c := range *soakConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			bodies := make([][]byte, 4096)
			for i := range bodies {
				src := rng.IntN(65536)
				bodies[i] = fmt.Appendf(nil, " gw01 kernel: [ 4821.000000] FW-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=10.%d.%d.%d DST=203.0.113.%d LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0\n",
					c, src>>8, src&255, 1+rng.IntN(20), rng.IntN(65536), 1024+rng.IntN(60000), 1+rng.IntN(65535))
			}
			buf := make([]byte, 0, 64<<10)
			k := 0
			start := time.Now()
			var n int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				ts := "<4>" + time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
				buf = buf[:0]
				for range 128 {
					buf = append(buf, ts...)
					buf = append(buf, bodies[k%len(bodies)]...)
					k++
				}
				conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write(buf); err != nil {
					select {
					case <-stop:
					default:
						t.Errorf("noise: %v", err)
					}
					return
				}
				n += 128
				sent.Add(128)
				if perConn > 0 {
					if ahead := time.Duration(float64(n)/float64(perConn)*float64(time.Second)) - time.Since(start); ahead > 0 {
						time.Sleep(ahead)
					}
				}
			}
		}()
	}
	// Knocks: one every 500ms from a new source, on their own connection.
	var knocksMu sync.Mutex
	completed := map[string]time.Time{} // source -> completing line sent
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			src := fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250)
			for k, dport := range []int{7000, 8000, 9000} {
				line := "<4>" + knockLine(time.Now(), src, dport+i%1000) + "\n"
				if _, err := conn.Write([]byte(line)); err != nil {
					return
				}
				if k == 2 {
					knocksMu.Lock()
					completed[src] = time.Now()
					knocksMu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}()

	// RSS every second, and the accepted lines.
	pid := cmd.Process.Pid
	var rss, heap, queued, lag []int64
	var accepted []int64
	start := time.Now()
	r0 := recordsIn(scrape(t, mport))
	for time.Since(start) < d {
		time.Sleep(time.Second)
		rss = append(rss, rssKB(pid))
		m := scrape(t, mport)
		accepted = append(accepted, int64(recordsIn(m)-r0))
		heap = append(heap, int64(metricValue(m, "go_memstats_heap_inuse_bytes")))
		queued = append(queued, int64(metricValue(m, "knockwatch_engine_queued_events")))
		lag = append(lag, time.Now().UnixMilli()-int64(metricValue(m, "knockwatch_engine_watermark_seconds")*1000))
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	total := recordsIn(scrape(t, mport)) - r0
	time.Sleep(6 * time.Second) // the last knocks are judged
	metrics := scrape(t, mport)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "knockwatch.log"))
		t.Fatalf("exit: %v\n%s", err, b)
	}

	knocksMu.Lock()
	mu.Lock()
	var lat []time.Duration
	missed := 0
	for src, sentAt := range completed {
		if at, ok := alertAt[src]; ok {
			lat = append(lat, at.Sub(sentAt))
		} else {
			missed++
		}
	}
	mu.Unlock()
	knocksMu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	rate := float64(total) / elapsed.Seconds()
	t.Logf("soak %s, %d connections: %d lines sent, %d accepted (%.0f lines/s); %d knocks, %d alerted, %d missed; alert latency p50 %s p90 %s p99 %s max %s",
		elapsed.Round(time.Millisecond), *soakConns, sent.Load(), total, rate, len(completed), len(lat), missed, pct(.5), pct(.9), pct(.99), pct(1))
	t.Logf("RSS (MiB) each second: %s", fmtSeries(rss, func(v int64) string { return strconv.FormatFloat(float64(v)/1024, 'f', 1, 64) }))
	t.Logf("Go heap in use (MiB) each second: %s", fmtSeries(heap, func(v int64) string { return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) }))
	t.Logf("events held for ordering each second: %s", fmtSeries(queued, func(v int64) string { return strconv.FormatInt(v, 10) }))
	t.Logf("watermark behind the clock (ms) each second: %s", fmtSeries(lag, func(v int64) string { return strconv.FormatInt(v, 10) }))
	t.Logf("accepted lines each second (cumulative): %s", fmtSeries(accepted, func(v int64) string { return strconv.FormatInt(v, 10) }))
	for _, l := range strings.Split(metrics, "\n") {
		for _, p := range []string{"knockwatch_events_total", "knockwatch_state_sources", "knockwatch_state_evictions_total", "knockwatch_engine_late_events_total", "knockwatch_engine_forced", "knockwatch_decode_errors_total", "knockwatch_alerts_total", "go_memstats_heap_inuse_bytes"} {
			if strings.HasPrefix(l, p) && !strings.HasSuffix(l, " 0") {
				t.Logf("  %s", l)
			}
		}
	}
	// Loose bounds: two shared cores run the generator and the sensor.
	if missed > 1 {
		t.Errorf("%d knocks without an alert", missed)
	}
	if pct(.9) > 15*time.Second {
		t.Errorf("p90 alert latency %s", pct(.9))
	}
	if len(rss) >= 10 {
		tail := rss[len(rss)/2:]
		if slices.Max(tail) > 2*slices.Min(tail)+64<<10 {
			t.Errorf("RSS keeps growing in the second half: %v", tail)
		}
	}
}

func metricValue(metrics, name string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

func fmtSeries(v []int64, f func(int64) string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = f(x)
	}
	return strings.Join(parts, " ")
}
