package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListenerAbuseAndMetrics: garbage, oversized frames, invalid UTF-8, a
// bad octet count and a slowloris sender hit the sensor's listener; each
// is counted in /metrics, readiness stays up and a knock sent afterwards
// is still detected. Metric labels never carry an address or a port.
func TestListenerAbuseAndMetrics(t *testing.T) {
	dir := t.TempDir()
	port, mport := testutil.FreePort(t), testutil.FreePort(t)
	out := filepath.Join(dir, "alerts.jsonl")
	r := startSensor(t, fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: 127.0.0.1:%d
  lateness: 500ms
  inputs:
    - {name: edge, type: syslog, listen: "127.0.0.1:%d", timezone: UTC, max_message: 2KB, frame_timeout: 300ms, idle_timeout: 2s}
  sinks:
    - {name: out, type: jsonl, path: %s}
`, dir, mport, port, out), nil, nil)
	base := fmt.Sprintf("http://127.0.0.1:%d", mport)
	waitUntil(t, "ready", 5*time.Second, func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	c.Write([]byte("\x00\x01\x02\x03binary\xff\n"))
	c.Write([]byte(strings.Repeat("x", 10000) + "\n"))
	c.Write([]byte("<13>Nov 22 10:15:02 gw01 app: \xc3\x28 bad utf-8\n"))
	dial().Write([]byte("99999999999 <13>x"))
	dial().Write([]byte("<13>Nov 22 10:15:02 gw01 app: never finis"))
	u, _ := net.Dial("udp", addr)
	u.Write([]byte(strings.Repeat("y", 5000)))
	u.Close()
	m := func(name string) float64 {
		_, body := get(t, base+"/metrics")
		return metricValue(body, name)
	}
	waitUntil(t, "the abuse counted", 5*time.Second, func() bool {
		return m(`knockwatch_decode_errors_total{input="edge",reason="binary"}`) == 1 &&
			m(`knockwatch_decode_errors_total{input="edge",reason="too_long"}`) == 2 &&
			m(`knockwatch_listener_invalid_utf8_total{input="edge"}`) == 1 &&
			m(`knockwatch_listener_bad_framing_total{input="edge"}`) == 1 &&
			m(`knockwatch_listener_timeouts_total{input="edge",kind="frame"}`) == 1
	})
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("readyz %d after the abuse", code)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	now := time.Now()
	k := dial()
	for i, p := range []int{7000, 8000, 9000} {
		fmt.Fprintf(k, "<4>%s\n", knockLine(now.Add(time.Duration(i)*50*time.Millisecond), "198.51.100.7", p))
	}
	waitUntil(t, "the knock after the abuse", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 1 })

	_, body := get(t, base+"/metrics")
	// Every label value is a configured name or a fixed word.
	label := regexp.MustCompile(`\{([^}]*)\}`)
	addrLike := regexp.MustCompile(`\d+\.\d+\.\d+\.\d+|:\d{2,5}"`)
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "knockwatch_") {
			continue
		}
		if lm := label.FindStringSubmatch(line); lm != nil && addrLike.MatchString(lm[1]) {
			t.Errorf("a label looks like an address or port: %s", line)
		}
	}
	for _, want := range []string{
		`knockwatch_input_records_total{input="edge"}`, `knockwatch_events_total{input="edge"}`,
		`knockwatch_state_sources{detector="sequence"}`, `knockwatch_state_evictions_total{detector="sequence"}`,
		`knockwatch_alerts_total{detector="sequence",severity="medium"} 1`, `knockwatch_sink_deliveries_total{sink="out"} 1`,
		`knockwatch_sink_spool_depth{sink="out"} 0`, `knockwatch_sink_failures_total{sink="out"} 0`,
		`knockwatch_listener_connections_active{input="edge"}`, `knockwatch_engine_watermark_seconds`, `knockwatch_ready 1`,
		`knockwatch_config_reloads_total{result="ok"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	r.stop(t)
}

// TestJournaldInput: the journald input runs journalctl (here a script
// that prints the samples the real journalctl printed; see
// decode/testdata/journald/README.md), decodes its entries, and saves the
// cursor so the next start passes --after-cursor.
func TestJournaldInput(t *testing.T) {
	dir := t.TempDir()
	sample, _ := filepath.Abs("../decode/testdata/journald/kernel.json")
	argsFile := filepath.Join(dir, "args")
	prog := filepath.Join(dir, "journalctl")
	os.WriteFile(prog, []byte("#!/bin/sh\necho \"$@\" >> "+argsFile+"\ncase \"$*\" in *--after-cursor*) ;; *) cat "+sample+";; esac\nexec sleep 60\n"), 0o755)
	yaml := fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  checkpoint_interval: 100ms
  inputs:
    - {name: journal, type: journald, journalctl: %s, kernel: true, timezone: UTC}
  sinks:
    - {type: jsonl, path: %s/alerts.jsonl}
`, dir, prog, dir)
	r := startSensor(t, yaml, nil, nil)
	waitUntil(t, "the entries", 5*time.Second, func() bool { return r.s.inputs[0].stats.Records.Load() == 5 })
	if n := r.s.inputs[0].stats.Events.Load(); n != 4 {
		t.Errorf("%d events, want 4", n)
	}
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	b, err := os.ReadFile(filepath.Join(dir, "state", "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pf positionsFile
	json.Unmarshal(b, &pf)
	p := pf.Inputs["journal"]
	if p.JResum == nil || p.JResum.Seq != 5 || !strings.HasPrefix(p.JResum.Cursor, "s=") {
		t.Fatalf("saved position %s", b)
	}
	r2 := startSensor(t, yaml, nil, nil)
	waitUntil(t, "journalctl started again", 5*time.Second, func() bool {
		a, _ := os.ReadFile(argsFile)
		return strings.Count(string(a), "\n") == 2
	})
	r2.stop(t)
	a, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(a), "--after-cursor="+p.JReply.Cursor) {
		t.Errorf("second start: journalctl %s", a)
	}
}

// TestCaptureInput: the capture input (package source's AF_PACKET live
// capture) on loopback sees connection attempts from 127.0.0.77 to closed
// ports on 127.0.0.1 and the sensor reports the knock. Needs root
// (CAP_NET_RAW).
func TestCaptureInput(t *testing.T) {
	testutil.Require(t, "root")
	dir := t.TempDir()
	out := filepath.Join(dir, "alerts.jsonl")
	mport := testutil.FreePort(t)
	r := startSensor(t, fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: 127.0.0.1:%d
  lateness: 500ms
  inputs:
    - {name: lo, type: capture, interface: lo}
  sinks:
    - {type: jsonl, path: %s}
`, dir, mport, out), nil, nil)
	waitUntil(t, "the capture", 5*time.Second, func() bool {
		_, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
		return strings.Contains(body, `knockwatch_capture_packets_total{input="lo"}`)
	})
	// Three closed ports (bound and closed again, so nothing listens),
	// knocked from a loopback address of this test's own: lo also carries
	// the traffic of tests running beside it, from 127.0.0.1.
	var ports []int
	for range 3 {
		ports = append(ports, testutil.FreePort(t))
	}
	knocker := &net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 77)}}
	for _, p := range ports {
		c, err := knocker.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			c.Close()
			t.Fatalf("port %d is open", p)
		}
		time.Sleep(30 * time.Millisecond)
	}
	want := fmt.Sprintf("%d/tcp,%d/tcp,%d/tcp", ports[0], ports[1], ports[2])
	waitUntil(t, "the knock from the capture", 15*time.Second, func() bool {
		for _, a := range readAlerts(t, out) {
			if a.Detector == "sequence" && a.Src.String() == "127.0.0.77" && strings.Contains(a.Summary, want) {
				return true
			}
		}
		return false
	})
	_, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if metricValue(body, `knockwatch_capture_packets_total{input="lo"}`) < 6 {
		t.Errorf("capture counters:\n%s", body)
	}
	r.stop(t)
}

// TestBrokenInputsDoNotBlock: a file that does not exist and a journal
// whose journalctl cannot start do not hold the listener's events back;
// /readyz names the failing input.
func TestBrokenInputsDoNotBlock(t *testing.T) {
	dir := t.TempDir()
	port, mport := testutil.FreePort(t), testutil.FreePort(t)
	out := filepath.Join(dir, "alerts.jsonl")
	startSensor(t, fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: 127.0.0.1:%d
  lateness: 500ms
  inputs:
    - {name: edge, type: syslog, listen: "127.0.0.1:%d", timezone: UTC}
    - {name: missing, type: file, path: %s/not/there.log, poll_interval: 50ms}
    - {name: journal, type: journald, journalctl: %s/no-journalctl}
  sinks:
    - {type: jsonl, path: %s}
`, dir, mport, port, dir, dir, out), nil, nil)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := time.Now()
	for i, p := range []int{7000, 8000, 9000} {
		fmt.Fprintf(c, "<4>%s\n", knockLine(now.Add(time.Duration(i)*50*time.Millisecond), "198.51.100.7", p))
	}
	waitUntil(t, "the knock", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 1 })
	code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", mport))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "journal") {
		t.Errorf("readyz %d %q, want 503 naming the journal", code, body)
	}
}
