package source

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/testutil"
)

// TestFollowLogrotate rotates a file with the real logrotate, in its create
// and copytruncate modes, while a writer appends numbered lines, and checks
// that the follower reads every line exactly once. The writer behaves like
// rsyslog: in create mode it reopens the path when logrotate's postrotate
// script tells it to (rsyslog gets a HUP), and keeps writing to the renamed
// file until then. copytruncate loses the lines written between its copy
// and its truncation (logrotate(8) says so); those are in no file at the
// end. So the check is: every line in a file at the end was read, none
// twice, none that was never written (the follower often reads the lines
// copytruncate destroys before it destroys them).
func TestFollowLogrotate(t *testing.T) {
	lr := testutil.RequireTool(t, "logrotate")
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "app.log")
			flag := filepath.Join(dir, "reopen")
			conf := filepath.Join(dir, "logrotate.conf")
			os.WriteFile(p, nil, 0o644)
			how := "create 0644"
			post := ""
			if mode == "copytruncate" {
				how = "copytruncate"
			} else {
				post = "    postrotate\n        touch " + flag + "\n    endscript\n"
			}
			os.WriteFile(conf, []byte(fmt.Sprintf("%s {\n    rotate 1000\n    %s\n    missingok\n    notifempty\n    nocompress\n%s}\n", p, how, post)), 0o644)

			r := startFollower(t, FollowOptions{Path: p, FromStart: true, PollInterval: 20 * time.Millisecond, RotateWait: 2 * time.Second})
			const total = 3000
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				for i := 1; i <= total; i++ {
					if _, err := os.Stat(flag); err == nil {
						os.Remove(flag)
						f.Close()
						f, _ = os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
					}
					fmt.Fprintf(f, "line %06d of the writer, long enough to look like a log line\n", i)
					if i%3 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				f.Close()
			}()
			rotations := 0
			written := make(chan struct{})
			go func() { wg.Wait(); close(written) }()
			for done := false; !done; {
				select {
				case <-written:
					done = true
					continue
				case <-time.After(60 * time.Millisecond):
				}
				out, err := exec.Command(lr, "--force", "--state", filepath.Join(dir, "state"), conf).CombinedOutput()
				if err != nil {
					t.Fatalf("logrotate: %v: %s", err, out)
				}
				rotations++
			}
			// Every line that exists in some file at the end.
			files, _ := filepath.Glob(p + "*")
			exist := map[int]bool{}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				for _, l := range strings.Split(string(b), "\n") {
					if n, ok := lineNumber(l); ok {
						exist[n] = true
					}
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if len(r.texts()) >= len(exist) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			r.stop(t)
			read := map[int]int{}
			for _, l := range r.texts() {
				n, ok := lineNumber(l)
				if !ok {
					t.Errorf("mangled line %q", l)
					continue
				}
				read[n]++
			}
			var missed, twice, extra []int
			for n := range exist {
				if read[n] == 0 {
					missed = append(missed, n)
				}
			}
			for n, k := range read {
				if k > 1 {
					twice = append(twice, n)
				}
				if !exist[n] && (n < 1 || n > total) {
					extra = append(extra, n)
				}
			}
			if len(missed) > 0 || len(twice) > 0 || len(extra) > 0 {
				t.Errorf("%d rotations: %d lines exist, %d read; missed %v, read twice %v, never written %v", rotations, len(exist), len(read), missed, twice, extra)
			}
			lost := total - len(exist)
			if mode == "create" && lost != 0 {
				t.Errorf("create mode lost %d lines", lost)
			}
			t.Logf("%s: %d rotations, %d lines written, %d in the files at the end (destroyed by copytruncate: %d), %d read, each once; follower counted %d rotations, %d truncations",
				mode, rotations, total, len(exist), lost, len(read), r.fw.Stats.Rotations.Load(), r.fw.Stats.Truncations.Load())
		})
	}
}

func lineNumber(l string) (int, bool) {
	if !strings.HasPrefix(l, "line ") || len(l) < 11 {
		return 0, false
	}
	n, err := strconv.Atoi(l[5:11])
	return n, err == nil
}
