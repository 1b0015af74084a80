package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfigCheckWatchErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte(`watch:
  lateness: soon
  inputs:
    - type: file
      path: relative.log
    - type: syslog
      listen: 127.0.0.1:5514
      format: nope
  sinks:
    - type: webhook
`), 0o644)
	_, errOut, code := run(t, "", "config", "check", p)
	if code != ExitError {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{p + ": line 2: ", p + ": line 5: watch.inputs[0].path", p + ": line 8: watch.inputs[1].format", p + ": line 10: watch.sinks[0].url"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "\n"); n != 4 {
		t.Errorf("%d lines, want one per problem:\n%s", n, errOut)
	}
	if out, errOut, code := run(t, "", "config", "check", "../../examples/watch.yaml"); code != ExitOK || !strings.Contains(out, "ok") {
		t.Errorf("example: exit %d %s", code, errOut)
	}
}

func TestWatchCommand(t *testing.T) {
	if _, errOut, code := run(t, "", "watch"); code != ExitError || !strings.Contains(errOut, "config") {
		t.Errorf("no --config: exit %d %q", code, errOut)
	}
	dir := t.TempDir()
	hunt := filepath.Join(dir, "hunt.yaml")
	os.WriteFile(hunt, []byte("sequence:\n  max_gap: 20s\n"), 0o644)
	if _, errOut, code := run(t, "", "watch", "--config", hunt); code != ExitError || !strings.Contains(errOut, "no watch: section") {
		t.Errorf("no watch section: exit %d %q", code, errOut)
	}

	in := filepath.Join(dir, "kern.log")
	os.WriteFile(in, nil, 0o644)
	cfg := filepath.Join(dir, "watch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
watch:
  state_dir: %s/state
  metrics_listen: "off"
  inputs:
    - {name: kern, type: file, path: %s, start_at: beginning, timezone: UTC, poll_interval: 20ms}
  sinks:
    - {type: jsonl, path: "-"}
`, dir, in)), 0o644)
	var out, errb syncBuffer
	no := false
	root := NewRoot(Streams{In: strings.NewReader(""), Out: &out, Err: &errb, OutTerminal: &no, ErrTerminal: &no})
	root.SetArgs([]string{"watch", "--config", cfg, "--log-format", "json"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	now := time.Now().UTC()
	f, _ := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
	for i, port := range []int{7000, 8000, 9000} {
		fmt.Fprintf(f, "%s gw01 kernel: [ 4821.000000] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0\n",
			now.Add(time.Duration(i)*40*time.Millisecond).Format("2006-01-02T15:04:05.000000-07:00"), 50000+i, port)
	}
	f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(out.String(), `"detector":"sequence"`) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch: %v", err)
	}
	if !strings.Contains(out.String(), `"summary":"198.51.100.7 knocked 203.0.113.10 on 7000/tcp,8000/tcp,9000/tcp"`) {
		t.Errorf("stdout %q\nstderr %s", out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), `"msg":"watching"`) || !strings.Contains(errb.String(), `"msg":"stopped"`) {
		t.Errorf("logs %s", errb.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the sensor's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
