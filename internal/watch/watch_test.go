package watch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/hunt"
)

const scenarios = "../hunt/testdata/scenarios"

// running is a sensor started by a test.
type running struct {
	s      *Sensor
	cancel context.CancelFunc
	done   chan error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("sensor: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sensor did not stop")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startSensor loads yaml (with STATE replaced by a state directory) and
// runs a sensor.
func startSensor(t *testing.T, yaml string, clock engine.Clock, stdout io.Writer) *running {
	t.Helper()
	cfg, probs := config.Check([]byte(yaml), nil)
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	s, err := New(Options{Config: cfg, Logger: testLogger(t), Clock: clock, Stdout: stdout, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func readAlerts(t *testing.T, path string) []*alert.Alert {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []*alert.Alert
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v: %q", path, err, sc.Text())
		}
		out = append(out, &a)
	}
	return out
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func countLines(t *testing.T, path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// comparable renders what two runs must agree on.
func comparable(a *alert.Alert) string {
	x := *a
	x.Incident = ""
	x.MemberAlerts = nil
	b, _ := json.Marshal(&x)
	return string(b)
}

// TestWatchMatchesHunt: the scenario logs in one file, hunted and followed
// from its start by the sensor, give the same alerts. The sensor judges
// with its idle tick (the injected clock moves on), never a flush.
func TestWatchMatchesHunt(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "all.log")
	// One scenario a day, so the file is in time order (each scenario is
	// dated Nov 22, 10:15 to 10:20).
	paths, _ := filepath.Glob(filepath.Join(scenarios, "*", "input.log"))
	var all []byte
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("Nov 22 ")) {
			t.Fatalf("%s: not dated Nov 22", p)
		}
		b = bytes.ReplaceAll(b, []byte("\nNov 22 "), []byte(fmt.Sprintf("\nNov %02d ", 1+i)))
		all = append(all, fmt.Sprintf("Nov %02d ", 1+i)...)
		all = append(all, b[len("Nov 22 "):]...)
	}
	if err := os.WriteFile(in, all, 0o644); err != nil {
		t.Fatal(err)
	}
	// A fixed modification time: year-less stamps are dated against it,
	// by the hunt and by the sensor alike.
	mtime := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(in, mtime, mtime)

	res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{in}, Config: config.Default(), Location: time.UTC, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, a := range res.Alerts {
		want[a.ID] = comparable(a)
		for _, m := range a.MemberAlerts {
			want[m.ID] = comparable(m)
		}
	}
	if len(want) < 10 {
		t.Fatalf("the hunt found only %d alerts", len(want))
	}

	out := filepath.Join(dir, "alerts.jsonl")
	clock := engine.NewManualClock(time.Now())
	// The reorder window covers the longest an alert can lag its time
	// (a daemon finding's ten-minute window), so enrichment sees the
	// order a hunt sees.
	r := startSensor(t, fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  reorder_window: 15m
  shards: 2
  inputs:
    - name: all
      type: file
      path: %s
      start_at: beginning
      timezone: UTC
      poll_interval: 50ms
  sinks:
    - type: jsonl
      path: %s
`, dir, in, out), clock, nil)
	lines := countLines(t, in)
	waitUntil(t, "the file read", 10*time.Second, func() bool { return r.s.inputs[0].stats.Records.Load() == lines })
	// Quiet time: the clock moves an hour on, tick by tick.
	for range 120 {
		clock.Advance(30 * time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	waitUntil(t, "the alerts out", 10*time.Second, func() bool {
		return r.s.post.pending.Load() == 0 && r.s.post.delivered.Load() > clock.Now().Add(-time.Hour).UnixNano()
	})
	r.stop(t)
	got := readAlerts(t, out)
	superseded := map[string]bool{}
	for _, a := range got {
		if a.Supersedes != "" {
			superseded[a.Supersedes] = true
		}
	}
	seen := map[string]bool{}
	for _, a := range got {
		if seen[a.ID] {
			t.Errorf("alert %s sent twice", a.ID)
		}
		seen[a.ID] = true
		w, ok := want[a.ID]
		switch {
		case !ok && superseded[a.ID]:
			// A hunt folds an alert superseded inside an incident away;
			// a stream sent it before it was superseded.
		case !ok:
			t.Errorf("the sensor found %s that the hunt did not: %s", a.ID, a.Summary)
		case w != comparable(a):
			t.Errorf("alert %s differs:\nhunt  %s\nwatch %s", a.ID, w, comparable(a))
		}
	}
	for id, w := range want {
		if !seen[id] {
			t.Errorf("the hunt found %s that the sensor did not: %.200s", id, w)
		}
	}
	t.Logf("%d alerts from the hunt, %d sent by the sensor", len(want), len(got))
}

// TestWebhookOutage: a webhook that fails its first deliveries gets every
// alert once; the spool held them meanwhile. Every request carries the
// headers of the configuration and of its headers file.
func TestWebhookOutage(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "kern.log")
	os.WriteFile(in, nil, 0o644)
	hfile := filepath.Join(dir, "webhook.headers")
	os.WriteFile(hfile, []byte("# the chat's token\nAuthorization: Bearer s3cret\n"), 0o600)
	var mu sync.Mutex
	fails := 5
	var ids []string
	var badHeaders []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alert.Alert
		json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		defer mu.Unlock()
		if got := r.Header.Get("Authorization") + "|" + r.Header.Get("X-Team"); got != "Bearer s3cret|soc" {
			badHeaders = append(badHeaders, got)
		}
		if fails > 0 {
			fails--
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		ids = append(ids, a.ID)
	}))
	defer hs.Close()
	r := startSensor(t, fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  inputs:
    - {name: kern, type: file, path: %s, start_at: beginning, timezone: UTC, poll_interval: 50ms}
  sinks:
    - {name: hook, type: webhook, url: %q, headers: {X-Team: soc}, headers_file: %s, retry_initial: 50ms, retry_max: 200ms, timeout: 2s}
`, dir, in, hs.URL, hfile), nil, nil)
	now := time.Now().UTC()
	var lines []string
	for i := range 4 {
		for k, port := range []int{7000, 8000, 9000} {
			ts := now.Add(time.Duration(i)*3*time.Second + time.Duration(k)*50*time.Millisecond)
			lines = append(lines, knockLine(ts, fmt.Sprintf("198.51.100.%d", 10+i), port))
		}
	}
	os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	sawSpool := false
	waitUntil(t, "four alerts delivered", 20*time.Second, func() bool {
		if r.s.delivers[0].Spool().Len() > 0 {
			sawSpool = true
		}
		mu.Lock()
		defer mu.Unlock()
		return len(ids) >= 4
	})
	r.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 4 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
		t.Errorf("received %v, want 4 distinct alerts", ids)
	}
	if len(badHeaders) > 0 {
		t.Errorf("requests with Authorization|X-Team %q, want \"Bearer s3cret|soc\"", badHeaders)
	}
	st := &r.s.delivers[0].Stats
	if st.Failures.Load() < 1 || st.Spooled.Load() < 1 {
		t.Errorf("failures %d spooled %d", st.Failures.Load(), st.Spooled.Load())
	}
	t.Logf("spool seen in use: %v; failures %d, spooled %d", sawSpool, st.Failures.Load(), st.Spooled.Load())
}

// knockLine is a netfilter LOG line as rsyslog writes it with its RFC 3339
// template.
func knockLine(ts time.Time, src string, port int) string {
	return fmt.Sprintf("%s gw01 kernel: [ 4821.000000] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=%s DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
		ts.UTC().Format("2006-01-02T15:04:05.000000-07:00"), src, 40000+port%10000, port)
}

// TestReloadKeepsState: SIGHUP's reload gives the detectors an authorized
// sequence; a knock begun before it and finished after it is one knock,
// reported as authorized.
func TestReloadKeepsState(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "kern.log")
	os.WriteFile(in, nil, 0o644)
	out := filepath.Join(dir, "alerts.jsonl")
	yaml := `
watch:
  state_dir: %s/state
  metrics_listen: "off"
  inputs:
    - {name: kern, type: file, path: %s, start_at: beginning, timezone: UTC, poll_interval: 20ms}
  sinks:
    - {type: jsonl, path: %s}
`
	r := startSensor(t, fmt.Sprintf(yaml, dir, in, out), nil, nil)
	now := time.Now().UTC()
	f, _ := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
	defer f.Close()
	fmt.Fprintln(f, knockLine(now, "198.51.100.7", 7000))
	fmt.Fprintln(f, knockLine(now.Add(100*time.Millisecond), "198.51.100.7", 8000))
	waitUntil(t, "two lines", 5*time.Second, func() bool { return r.s.inputs[0].stats.Records.Load() == 2 })
	cfg, probs := config.Check([]byte(fmt.Sprintf(yaml, dir, in, out)+`
authorized_sequences:
  - name: ops
    ports: [7000, 8000, 9000]
`), nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if err := r.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, knockLine(now.Add(200*time.Millisecond), "198.51.100.7", 9000))
	waitUntil(t, "the alert", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 1 })
	a := readAlerts(t, out)[0]
	if !a.Authorized || a.AuthorizedAs != "ops" || len(a.Sequence) != 3 {
		t.Errorf("alert %s: authorized=%v as %q, %d knocks", a.ID, a.Authorized, a.AuthorizedAs, len(a.Sequence))
	}
	// A configuration with errors is refused and the old one kept.
	bad := cfg
	bad.Sequence.MinPorts = 1
	if err := r.s.Reload(bad); err == nil {
		t.Error("a bad configuration was taken")
	}
}

// TestZeekFollowedFromTheMiddle: Zeek's conn.log names its columns in the
// #fields header at the top of the file. A sensor that starts at the end
// of a conn.log Zeek is writing, and one restarted from a saved position,
// read the records after it with that header; none is a decode error.
func TestZeekFollowedFromTheMiddle(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "conn.log")
	out := filepath.Join(dir, "alerts.jsonl")
	hdr, err := os.ReadFile("../decode/testdata/zeek-conn-tsv/conn.log")
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, l := range strings.Split(string(hdr), "\n") {
		if strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "#close") {
			header = append(header, l)
		}
	}
	// A rejected attempt as Zeek logs it (REJ), from src to port.
	record := func(ts time.Time, src string, n, port int) string {
		return fmt.Sprintf("%d.%06d\tCkn%04d\t%s\t%d\t203.0.113.10\t%d\ttcp\t-\t0.000212\t0\t0\tREJ\tF\tT\t0\tSr\t1\t60\t1\t40\t-\t6",
			ts.Unix(), ts.Nanosecond()/1000, n, src, 51000+n, port)
	}
	now := time.Now().UTC()
	os.WriteFile(in, []byte(strings.Join(header, "\n")+"\n"+record(now.Add(-time.Hour), "192.0.2.1", 0, 443)+"\n"), 0o644)
	yaml := fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  inputs:
    - {name: zeek, type: file, path: %s, start_at: end, poll_interval: 20ms}
  sinks:
    - {type: jsonl, path: %s}
`, dir, in, out)
	knock := func(src string, at time.Time, n int) {
		f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for k, port := range []int{7000, 8000, 9000} {
			fmt.Fprintln(f, record(at.Add(time.Duration(k)*100*time.Millisecond), src, n+k, port))
		}
	}
	knocked := func(src string) func() bool {
		return func() bool {
			for _, a := range readAlerts(t, out) {
				if a.Src.String() == src && alert.SequenceString(a.Sequence) == "7000/tcp,8000/tcp,9000/tcp" {
					return true
				}
			}
			return false
		}
	}
	r := startSensor(t, yaml, nil, nil)
	waitUntil(t, "the sensor at the end of the file", 5*time.Second, func() bool { return r.s.Ready() })
	knock("198.51.100.7", now, 1)
	waitUntil(t, "the knock after the start", 10*time.Second, knocked("198.51.100.7"))
	if n := r.s.inputs[0].stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors reading from the end: %v", n, r.s.inputs[0].stats.Errors())
	}
	r.stop(t)

	knock("198.51.100.8", now.Add(5*time.Second), 4)
	r = startSensor(t, yaml, nil, nil)
	waitUntil(t, "the knock after the restart", 10*time.Second, knocked("198.51.100.8"))
	if n := r.s.inputs[0].stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors after the restart: %v", n, r.s.inputs[0].stats.Errors())
	}
	r.stop(t)
}
