package kafka

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// proc is a knockwatch process; its output goes to a log file that the
// test prints when it fails.
type proc struct {
	cmd  *exec.Cmd
	log  string
	name string
}

func startProc(t *testing.T, name, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Binary(t), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, name: name}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("%s log (tail):\n%s", name, strings.Join(lines, "\n"))
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop", p.name)
	}
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestProcesses runs the deployment of docs/deploy-kafka.md with real
// processes on one machine: a collector's unkeyed topic, `knockwatch
// route` re-keying it, three `knockwatch watch` instances of one group over
// a topic of 12 partitions on a 3-broker Kafka-protocol cluster on
// 127.0.0.1, alerts to a Kafka topic through the kafka sink. One instance
// is killed with SIGKILL in the middle of the stream. Every alert of a
// per-partition reference run is in the alerts topic, every record there
// with the content of the reference alert of its id.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := testutil.Binary(t)
	c := newCluster(t, 3, 12, "fw", "alerts")
	prod := client(t, c)
	createTopic(t, prod, "raw", 1)
	brokers := strings.Join(c.ListenAddrs(), ",")
	dir := t.TempDir()
	if d := os.Getenv("KW_E2E_DIR"); d != "" {
		dir = d
	}
	s := makeStream(11, 40*time.Minute, 120)

	route := startProc(t, "route", filepath.Join(dir, "route.log"), "route", "--brokers", brokers,
		"--from", "raw", "--to", "fw", "--start-at", "beginning", "--log-level", "debug")
	var ports []int
	var procs []*proc
	start := func(i int) *proc {
		port := testutil.FreePort(t)
		cfg := filepath.Join(dir, fmt.Sprintf("kw%d.yaml", i))
		// kafka idle_tick 1m: this stream runs 40 minutes of event time
		// in seconds, so a quiet partition's clock must not move it on.
		os.WriteFile(cfg, []byte(fmt.Sprintf(`
watch:
  state_dir: %s/kw%d
  metrics_listen: 127.0.0.1:%d
  inputs:
    - name: firewalls
      type: kafka
      timezone: UTC
      kafka:
        brokers: [%s]
        group: kw
        topics: [{name: fw}]
        start_at: beginning
        commit_interval: 100ms
        session_timeout: 1s
        rebalance_timeout: 10s
        max_partitions: 12
        idle_tick: 1m
  sinks:
    - name: alerts
      type: kafka
      kafka: {brokers: [%s], topic: alerts}
`, dir, i, port, strings.Join(c.ListenAddrs(), ", "), strings.Join(c.ListenAddrs(), ", "))), 0o644)
		if out, err := exec.Command(bin, "config", "check", cfg).CombinedOutput(); err != nil {
			t.Fatalf("config check: %v\n%s", err, out)
		}
		ports = append(ports, port)
		p := startProc(t, fmt.Sprintf("kw%d", i), filepath.Join(dir, fmt.Sprintf("kw%d.log", i)), "watch", "--config", cfg, "--log-level", "debug")
		procs = append(procs, p)
		return p
	}
	for i := range 3 {
		start(i)
	}
	owned := func(port int) bool {
		return regexp.MustCompile(`knockwatch_kafka_partitions_owned\{input="firewalls"\} [1-9]`).MatchString(scrape(t, port))
	}
	waitFor(t, 30*time.Second, "every instance to own partitions", func() bool {
		return owned(ports[0]) && owned(ports[1]) && owned(ports[2])
	})
	half := len(s.lines) / 2
	produce(t, prod, "raw", s.lines[:half])
	waitFor(t, time.Minute, "the first half to be committed", func() bool {
		m := committedMeta(t, prod, "kw", "fw")
		n := 0
		for _, x := range m {
			if x.Resume > 0 {
				n++
			}
		}
		return n == 12
	})
	// The second half arrives; kw1 is killed while it reads it.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produce(t, prod, "raw", s.lines[half:])
	}()
	time.Sleep(150 * time.Millisecond)
	if err := procs[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[1].cmd.Wait()
	<-produced
	// Markers an hour later on every partition judge what is left.
	mp := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	waitFor(t, time.Minute, "the router to route every line", func() bool {
		ends := endOffsets(t, prod, "fw")
		n := int64(0)
		for _, e := range ends {
			n += e
		}
		return n == int64(len(s.lines))
	})
	for p := range int32(12) {
		line := nfLine(s.end.Add(time.Hour), "ACCEPT", fmt.Sprintf("192.0.2.%d", 100+p), "203.0.113.10", "TCP", 44000, 443)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := mp.ProduceSync(ctx, &kgo.Record{Topic: "fw", Partition: p, Value: []byte(line)}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ends := endOffsets(t, prod, "fw")
	waitFor(t, 2*time.Minute, "every partition committed with its last record delivered", func() bool {
		got := committedMeta(t, prod, "kw", "fw")
		for p, e := range ends {
			if got[p].Resume < e {
				return false
			}
		}
		return true
	})
	// The lag metric: per topic and partition, zero once read.
	m := scrape(t, ports[0])
	if !regexp.MustCompile(`knockwatch_kafka_lag_records\{input="firewalls",partition="\d+",topic="fw"\} 0`).MatchString(m) {
		t.Errorf("no lag metric per partition in:\n%s", grepLines(m, "knockwatch_kafka_"))
	}
	for _, i := range []int{0, 2} {
		procs[i].stop(t)
	}
	route.stop(t)

	recs := readAll(t, c, "fw")
	ref := reference(t, kafkaInput(c, "ref", "fw"), "fw", recs)
	got := map[string][]string{}
	n := 0
	for _, rs := range readAll(t, c, "alerts") {
		for _, r := range rs {
			var id string
			for _, h := range r.Headers {
				if h.Key == "id" {
					id = string(h.Value)
				}
			}
			got[id] = append(got[id], string(r.Value)+"\n")
			n++
		}
	}
	var missing, extra, conflicting []string
	for id, want := range ref {
		encs, ok := got[id]
		if !ok {
			missing = append(missing, id+" "+summary(want))
			continue
		}
		for _, e := range encs {
			if e != want {
				conflicting = append(conflicting, fmt.Sprintf("%s:\n  want %s  got  %s", id, want, e))
				break
			}
		}
	}
	for id, encs := range got {
		if _, ok := ref[id]; !ok {
			extra = append(extra, id+" "+summary(encs[0]))
		}
	}
	t.Logf("%d lines; reference %d alerts; alerts topic: %d records, %d ids", len(s.lines), len(ref), n, len(got))
	if len(missing)+len(extra)+len(conflicting) > 0 {
		t.Errorf("missing %d:\n%s\nextra %d:\n%s\nconflicting %d:\n%s", len(missing), strings.Join(missing, "\n"),
			len(extra), strings.Join(extra, "\n"), len(conflicting), strings.Join(conflicting, "\n"))
	}
	if len(ref) < len(s.knocks) {
		t.Errorf("reference has %d alerts for %d knocks", len(ref), len(s.knocks))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
