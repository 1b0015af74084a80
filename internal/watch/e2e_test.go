package watch

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// proc is a knockwatch watch process.
type proc struct {
	cmd    *exec.Cmd
	stderr *os.File
}

func startProc(t *testing.T, bin, cfg, logPath string) *proc {
	t.Helper()
	errf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "watch", "--config", cfg, "--log-level", "debug")
	cmd.Stderr = errf
	cmd.Stdout = errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: errf}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		errf.Close()
	})
	return p
}

// TestKill9Restart runs a real knockwatch watch over a log file that keeps
// growing, kills it with SIGKILL in the middle of the stream (lines are
// appended while it is down), starts it again and finally stops it with
// SIGTERM. Every alert a hunt over the final file finds is then in the
// sensor's alert file, and no other; duplicates (an alert sent just before
// the kill and before its id was journaled) are counted and reported.
func TestKill9Restart(t *testing.T) {
	bin := testutil.Binary(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "kern.log")
	out := filepath.Join(dir, "alerts.jsonl")
	os.WriteFile(in, nil, 0o644)
	cfg := filepath.Join(dir, "knockwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  checkpoint_interval: 100ms
  inputs:
    - {name: kern, type: file, path: %s, start_at: beginning, timezone: UTC, poll_interval: 50ms}
  sinks:
    - {name: alerts, type: jsonl, path: %s}
`, dir, in, out)), 0o644)
	logPath := filepath.Join(dir, "knockwatch.log")

	// The stream: 60 knocks from different sources, three ports each,
	// 40ms apart within a knock, 120ms between knocks; the kill falls
	// in the middle of a knock.
	f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(i int) {
		for k, base := range []int{7000, 8000, 9000} {
			fmt.Fprintln(f, knockLine(time.Now(), fmt.Sprintf("198.51.%d.%d", 100+i/200, 1+i%200), base+i))
			if k < 2 {
				time.Sleep(40 * time.Millisecond)
			}
		}
		time.Sleep(120 * time.Millisecond)
	}
	p := startProc(t, bin, cfg, logPath)
	for i := range 25 {
		write(i)
	}
	// Half a knock, then SIGKILL.
	fmt.Fprintln(f, knockLine(time.Now(), "192.0.2.77", 7777))
	time.Sleep(40 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	fmt.Fprintln(f, knockLine(time.Now(), "192.0.2.77", 8777))
	time.Sleep(40 * time.Millisecond)
	fmt.Fprintln(f, knockLine(time.Now(), "192.0.2.77", 9777))
	for i := 25; i < 35; i++ { // written while the sensor is down
		write(i)
	}
	p = startProc(t, bin, cfg, logPath)
	for i := 35; i < 60; i++ {
		write(i)
	}
	// Quiet time for the last knocks to be judged (settle + lateness +
	// reorder window), then SIGTERM.
	time.Sleep(5 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("exit: %v\n%s", err, b)
	}

	res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{in}, Config: config.Default(), Location: time.UTC, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range res.Alerts {
		want = append(want, a.ID)
	}
	slices.Sort(want)
	counts := map[string]int{}
	for _, a := range readAlerts(t, out) {
		counts[a.ID]++
	}
	var got []string
	dups := 0
	for id, n := range counts {
		got = append(got, id)
		dups += n - 1
	}
	slices.Sort(got)
	if len(want) < 60 {
		t.Errorf("the hunt found %d alerts, want at least 61", len(want))
	}
	if !slices.Equal(got, want) {
		missing, extra := diff(want, got), diff(got, want)
		b, _ := os.ReadFile(logPath)
		t.Errorf("alerts differ from the hunt's: missing %v, extra %v\n%s", missing, extra, b)
	}
	t.Logf("%d alerts expected, %d distinct sent, %d duplicate(s) after kill -9", len(want), len(got), dups)
	if dups > 2 {
		t.Errorf("%d duplicates: more than the alerts sent within one journal sync before the kill", dups)
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestLoggerAndRsyslog sends knock lines to the listener of a real
// knockwatch watch with util-linux logger (UDP with RFC 3164; TCP with
// RFC 5424, LF-framed and octet-counted) and through a private rsyslogd
// (its own configuration, pid file and work directory in a temporary
// directory; the system rsyslog is not touched) that receives them on UDP
// and forwards them over TCP (octet-counted RFC 5424, and LF-framed
// traditional format) and UDP.
func TestLoggerAndRsyslog(t *testing.T) {
	logger := testutil.RequireTool(t, "logger")
	rsyslogd := testutil.RequireTool(t, "rsyslogd")
	bin := testutil.Binary(t)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	out := filepath.Join(dir, "alerts.jsonl")
	mport := testutil.FreePort(t)
	cfg := filepath.Join(dir, "knockwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: 127.0.0.1:%d
  inputs:
    - {name: syslog, type: syslog, listen: "127.0.0.1:%d", timezone: UTC}
  sinks:
    - {name: alerts, type: jsonl, path: %s}
`, dir, mport, port, out)), 0o644)
	p := startProc(t, bin, cfg, filepath.Join(dir, "knockwatch.log"))
	waitUntil(t, "the listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// The private rsyslogd: UDP in on rport, forwarding by source address.
	rport := testutil.FreePort(t)
	work := filepath.Join(dir, "rsyslog")
	os.MkdirAll(work, 0o700)
	rconf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(rconf, []byte(fmt.Sprintf(`
global(workDirectory="%[1]s")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%[2]d")
if $msg contains "SRC=198.51.100.41 " then {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfile" file="%[1]s/relayed-rfc5424.log" template="RSYSLOG_SyslogProtocol23Format")
} else if $msg contains "SRC=198.51.100.42 " then {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="tcp")
} else {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="udp")
}
`, work, rport, port)), 0o644)
	rs := exec.Command(rsyslogd, "-n", "-f", rconf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	rsOut, _ := os.Create(filepath.Join(dir, "rsyslogd.out"))
	rs.Stdout, rs.Stderr = rsOut, rsOut
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rs.Process.Signal(syscall.SIGTERM)
		rs.Wait()
		rsOut.Close()
	})
	// rsyslogd writes its pid file before its inputs are up: probe it
	// until a message comes through to the listener.
	probes := 0
	waitUntil(t, "a probe through rsyslogd", 15*time.Second, func() bool {
		probes++
		exec.Command(logger, "-n", "127.0.0.1", "-P", fmt.Sprint(rport), "--udp", "-t", "probe", "probe").Run()
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(scrape(t, mport), `knockwatch_input_records_total{input="syslog"} `) && !strings.Contains(scrape(t, mport), `knockwatch_input_records_total{input="syslog"} 0`+"\n")
	})
	before := recordsIn(scrape(t, mport))

	msg := func(src string, port int) string {
		return fmt.Sprintf("[ 4821.000000] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=%s DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0", src, 40000+port%10000, port)
	}
	senders := []struct {
		src  string
		args []string
	}{
		{"198.51.100.31", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(port), "--udp", "--rfc3164"}},
		{"198.51.100.32", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(port), "--tcp", "--rfc5424"}},
		{"198.51.100.33", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(port), "--tcp", "--octet-count", "--rfc5424"}},
		{"198.51.100.41", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(rport), "--udp", "--rfc3164"}},
		{"198.51.100.42", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(rport), "--udp", "--rfc3164"}},
		{"198.51.100.43", []string{"-n", "127.0.0.1", "-P", fmt.Sprint(rport), "--udp", "--rfc3164"}},
	}
	for _, s := range senders {
		for _, dport := range []int{7100, 8200, 9300} {
			args := append(append([]string(nil), s.args...), "-t", "kernel", "-p", "kern.warning", msg(s.src, dport))
			if b, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
				t.Fatalf("logger %v: %v: %s", args, err, b)
			}
			time.Sleep(30 * time.Millisecond)
		}
	}
	// The last finding per source: a knock split over two syslog seconds
	// may first be reported in part and then superseded.
	const want = "sequence medium 7100,8200,9300"
	bySrc := map[string]string{}
	complete := func() bool {
		clear(bySrc)
		for _, a := range readAlerts(t, out) {
			bySrc[a.Src.String()] = a.Detector + " " + a.Severity.String() + " " + strings.Join(knockPorts(a), ",")
		}
		for _, s := range senders {
			if bySrc[s.src] != want {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && !complete() {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	metrics := scrape(t, mport)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	complete()
	for _, s := range senders {
		if got := bySrc[s.src]; got != want {
			t.Errorf("%s (%v): %q, want a knock on 7100,8200,9300", s.src, s.args, got)
		}
	}
	if n := recordsIn(metrics) - before; n != 18 {
		t.Errorf("%d records in, want 18", n)
	}
	if want := `knockwatch_alerts_total{detector="sequence",severity="medium"} 6`; !strings.Contains(metrics, want+"\n") {
		t.Errorf("metrics lack %q", want)
	}
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(dir, "knockwatch.log"))
		r, _ := os.ReadFile(filepath.Join(dir, "rsyslogd.out"))
		relayed, _ := os.ReadFile(filepath.Join(work, "relayed-rfc5424.log"))
		t.Logf("relayed by rsyslogd in RFC 5424:\n%s", relayed)
		var ml []string
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, "knockwatch_") && !strings.HasSuffix(l, " 0") {
				ml = append(ml, l)
			}
		}
		t.Logf("alerts by source %v\nknockwatch log:\n%s\nrsyslogd:\n%s\nmetrics:\n%s", bySrc, b, r, strings.Join(ml, "\n"))
	}
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "knockwatch_decode_errors_total") && !strings.HasSuffix(l, " 0") {
			t.Errorf("decode errors: %s", l)
		}
	}
}

func knockPorts(a *alert.Alert) []string {
	var out []string
	for _, k := range a.Sequence {
		out = append(out, fmt.Sprint(k.Port))
	}
	return out
}

func recordsIn(metrics string) int {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, `knockwatch_input_records_total{input="syslog"} `); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f)
		}
	}
	return -1
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSIGHUPReload: a real process reloads its configuration on SIGHUP (a
// new authorized sequence takes effect for the next knock) and keeps the
// old one when the new file has errors.
func TestSIGHUPReload(t *testing.T) {
	bin := testutil.Binary(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "kern.log")
	out := filepath.Join(dir, "alerts.jsonl")
	os.WriteFile(in, nil, 0o644)
	cfg := filepath.Join(dir, "knockwatch.yaml")
	base := fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  lateness: 500ms
  inputs:
    - {name: kern, type: file, path: %s, timezone: UTC, poll_interval: 50ms}
  sinks:
    - {type: jsonl, path: %s}
`, dir, in, out)
	os.WriteFile(cfg, []byte(base), 0o644)
	logPath := filepath.Join(dir, "knockwatch.log")
	p := startProc(t, bin, cfg, logPath)
	knock := func(src string) {
		f, _ := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
		defer f.Close()
		now := time.Now()
		for i, port := range []int{7000, 8000, 9000} {
			fmt.Fprintln(f, knockLine(now.Add(time.Duration(i)*40*time.Millisecond), src, port))
		}
	}
	logHas := func(s string) bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), s)
	}
	waitUntil(t, "the sensor", 10*time.Second, func() bool { return logHas("msg=watching") })
	knock("198.51.100.1")
	waitUntil(t, "the first knock", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 1 })
	os.WriteFile(cfg, []byte(base+"authorized_sequences:\n  - {name: ops, ports: [7000, 8000, 9000]}\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", 10*time.Second, func() bool { return logHas("configuration reloaded") })
	knock("198.51.100.2")
	waitUntil(t, "the second knock", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 2 })
	os.WriteFile(cfg, []byte(base+"sequence:\n  min_ports: 1\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the refusal", 10*time.Second, func() bool { return logHas("reload refused") })
	knock("198.51.100.3")
	waitUntil(t, "the third knock", 10*time.Second, func() bool { return len(readAlerts(t, out)) == 3 })
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	as := readAlerts(t, out)
	if as[0].Authorized || !as[1].Authorized || !as[2].Authorized {
		t.Errorf("authorized: %v %v %v, want false true true (the bad file kept the reloaded one)", as[0].Authorized, as[1].Authorized, as[2].Authorized)
	}
}
