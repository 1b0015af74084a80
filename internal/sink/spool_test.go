package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

func testAlert(i int) *alert.Alert {
	t := time.Date(2025, 11, 22, 10, 15, 2, i*1000, time.UTC)
	src := netip.MustParseAddr("198.51.100.7")
	dst := netip.MustParseAddr("203.0.113.10")
	seq := []alert.Knock{{Port: 7000, Proto: "tcp"}, {Port: 8000, Proto: "tcp", OffsetMS: 0.3}, {Port: 9000, Proto: "tcp", OffsetMS: 0.6}}
	return &alert.Alert{
		ID: alert.IDOf("sequence", src, dst, t, strconv.Itoa(i)), Kind: "alert", Time: t, Detector: "sequence",
		Technique: alert.TechniquePortKnocking, Severity: alert.SeverityMedium, Confidence: 0.5,
		Reasons: []string{"3 distinct closed ports in order", "a=b|c\\d"}, Summary: fmt.Sprintf("knock %d | pipe", i),
		Src: src, Dst: dst, FirstSeen: t, LastSeen: t, Sequence: seq, Evidence: []string{"kern.log:1"}, EvidenceTotal: 3,
	}
}

func TestSpoolOrderReopenAndCap(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := sp.Append([]byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	rec, ok, err := sp.Peek()
	if err != nil || !ok || string(rec) != `{"n":0}` {
		t.Fatalf("peek %q %v %v", rec, ok, err)
	}
	if rec2, _, _ := sp.Peek(); string(rec2) != `{"n":0}` {
		t.Errorf("second peek %q", rec2)
	}
	sp.Ack()
	sp.Sync()
	sp.Close()
	// A record cut by a crash (no LF) is not delivered.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"n":cut`)
	f.Close()

	sp, err = OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := sp.Len(); n != 4 {
		t.Fatalf("%d records after reopen, want 4", n)
	}
	var got []string
	for {
		rec, ok, err := sp.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(rec))
		sp.Ack()
	}
	if strings.Join(got, "") != `{"n":1}{"n":2}{"n":3}{"n":4}` {
		t.Errorf("records %v", got)
	}
	if sp.Len() != 0 || sp.Bytes() != 0 {
		t.Errorf("not empty: %d %d", sp.Len(), sp.Bytes())
	}
	sp.Close()

	small, _ := OpenSpool(t.TempDir(), 64)
	var full error
	for i := 0; full == nil && i < 100; i++ {
		full = small.Append([]byte(`{"n":12345}`))
	}
	if !errors.Is(full, ErrSpoolFull) {
		t.Errorf("cap: %v", full)
	}
}

// flakyServer fails the first n requests with 503 and records the alert
// ids it accepted, in order.
type flakyServer struct {
	mu       sync.Mutex
	failures int
	seen     int
	ids      []string
	reject   string
}

func (f *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a alert.Alert
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	if f.failures > 0 {
		f.failures--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := json.Unmarshal(body, &a); err != nil || r.Header.Get("Idempotency-Key") != a.ID {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	if a.ID == f.reject {
		http.Error(w, "no", http.StatusUnprocessableEntity)
		return
	}
	f.ids = append(f.ids, a.ID)
}

// TestWebhookRetriesFromSpool: a receiver that fails the first deliveries
// gets every alert once, in order; the one it refuses for good is not
// retried.
func TestWebhookRetriesFromSpool(t *testing.T) {
	srv := &flakyServer{failures: 3}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	sp, _ := OpenSpool(t.TempDir(), 1<<20)
	d := NewDeliverer(DelivererOptions{
		Name: "hook", Sink: NewWebhook(WebhookOptions{URL: hs.URL, Timeout: time.Second}), Spool: sp,
		RetryInitial: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	})
	d.Start()
	var want []string
	var wg sync.WaitGroup
	srv.reject = testAlert(4).ID
	for i := range 8 {
		a := testAlert(i)
		if i != 4 {
			want = append(want, a.ID)
		}
		wg.Add(1)
		d.Submit(a, wg.Done)
	}
	wg.Wait() // every alert delivered, spooled or refused
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (sp.Len() > 0 || d.Stats.Delivered.Load() < 7) {
		time.Sleep(10 * time.Millisecond)
	}
	d.Stop(context.Background())
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if strings.Join(srv.ids, ",") != strings.Join(want, ",") {
		t.Errorf("received %v\nwant     %v", srv.ids, want)
	}
	if d.Stats.Failures.Load() != 3 || d.Stats.Rejected.Load() != 1 || d.Stats.Spooled.Load() == 0 || sp.Len() != 0 {
		t.Errorf("failures %d rejected %d spooled %d depth %d", d.Stats.Failures.Load(), d.Stats.Rejected.Load(), d.Stats.Spooled.Load(), sp.Len())
	}
}

// TestDelivererSpoolSurvivesRestart: alerts spooled while the sink was down
// are delivered by the next process.
func TestDelivererSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := &flakyServer{failures: 1 << 30}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	sp, _ := OpenSpool(dir, 1<<20)
	d := NewDeliverer(DelivererOptions{Name: "hook", Sink: NewWebhook(WebhookOptions{URL: hs.URL}), Spool: sp, RetryInitial: time.Hour})
	d.Start()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		d.Submit(testAlert(i), wg.Done)
	}
	wg.Wait()
	d.Stop(context.Background())
	sp.Close()
	if sp.Len() != 3 {
		t.Fatalf("spooled %d, want 3", sp.Len())
	}
	srv.mu.Lock()
	srv.failures = 0
	srv.mu.Unlock()
	sp2, _ := OpenSpool(dir, 1<<20)
	d2 := NewDeliverer(DelivererOptions{Name: "hook", Sink: NewWebhook(WebhookOptions{URL: hs.URL}), Spool: sp2, RetryInitial: 10 * time.Millisecond})
	d2.Start()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && sp2.Len() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	d2.Stop(context.Background())
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.ids) != 3 || srv.ids[0] != testAlert(0).ID {
		t.Errorf("delivered after restart: %v", srv.ids)
	}
}

func TestCEF(t *testing.T) {
	a := testAlert(1)
	got := CEF{Version: "1.0"}.Format(a)
	for _, want := range []string{
		`CEF:0|knockwatch|knockwatch|1.0|sequence:T1205.001|knock 1 \| pipe|5|`,
		`externalId=` + a.ID, `src=198.51.100.7`, `dst=203.0.113.10`,
		`cs2Label=sequence cs2=7000/tcp,8000/tcp,9000/tcp`,
		`msg=3 distinct closed ports in order; a\=b|c\\d`,
		`rt=1763806502000`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("CEF lacks %q:\n%s", want, got)
		}
	}
	if strings.ContainsAny(got, "\n\r") {
		t.Errorf("line break in %q", got)
	}
}

// TestSyslogSinkTCP: octet-counted RFC 5424 messages with a CEF payload;
// a collector that drops the connection gets the next alert on a new one.
func TestSyslogSinkTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// One message per connection: the sink must reconnect.
				br := bufio.NewReader(c)
				n := 0
				if _, err := fmt.Fscanf(br, "%d ", &n); err != nil {
					return
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(br, b); err != nil {
					return
				}
				msgs <- string(b)
			}()
		}
	}()
	s := NewSyslog(SyslogOptions{Network: "tcp", Address: ln.Addr().String(), Format: "cef", OctetCounting: true, Facility: 20, Hostname: "sensor1", Version: "test", Timeout: time.Second})
	defer s.Close()
	for i := range 3 {
		var err error
		for try := 0; try < 3; try++ {
			if err = s.Write(testAlert(i)); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		select {
		case m := <-msgs:
			// local4 (20) * 8 + warning (4) = 164 for a medium alert.
			if !strings.HasPrefix(m, "<164>1 ") || !strings.Contains(m, " sensor1 knockwatch ") || !strings.Contains(m, "CEF:0|knockwatch|knockwatch|test|") {
				t.Errorf("message %q", m)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("alert %d not received", i)
		}
		time.Sleep(20 * time.Millisecond) // let the collector close
	}
}

func TestFileSink(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alerts.jsonl")
	f, err := NewFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(testAlert(1))
	os.Rename(p, p+".1")
	f.Reopen()
	f.Write(testAlert(2))
	f.Close()
	for _, name := range []string{p + ".1", p} {
		b, _ := os.ReadFile(name)
		var a alert.Alert
		if err := json.Unmarshal(b, &a); err != nil || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
}
