package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// fakeJournalctl writes a script that records its arguments and prints the
// journald samples (made by the real journalctl; see
// decode/testdata/journald/README.md) after the entry its --after-cursor
// names, then waits like --follow does.
func fakeJournalctl(t *testing.T) (prog, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	sample, err := filepath.Abs("../decode/testdata/journald/kernel.json")
	if err != nil {
		t.Fatal(err)
	}
	argsFile = filepath.Join(dir, "args")
	prog = filepath.Join(dir, "journalctl")
	script := `#!/bin/sh
echo "$@" >> ` + argsFile + `
after=""
for a in "$@"; do case "$a" in --after-cursor=*) after="${a#--after-cursor=}";; esac; done
if [ -z "$after" ]; then cat ` + sample + `; else awk -v c="$after" 'p{print} index($0, "\"__CURSOR\":\"" c "\""){p=1}' ` + sample + `; fi
exec sleep 60
`
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, argsFile
}

func runJournal(t *testing.T, opts JournalOptions, want int) ([]JournalChunk, JournalPos, *stats.Run, int64) {
	t.Helper()
	f, _ := decode.Lookup("journald")
	st := stats.New()
	dec := NewLiveDecoder(LiveDecoderOptions{Name: "journald", Format: f, Stats: st})
	jf := NewJournalFollower(opts)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var chunks []JournalChunk
	events := 0
	done := make(chan error, 1)
	go func() {
		done <- jf.Run(ctx, func(c JournalChunk) error {
			b := NewBatch()
			b.Events = dec.DecodeLines(c.Data, c.FirstLine, c.TooLong, c.Replay, b.Events)
			mu.Lock()
			events += len(b.Events)
			c.Data = append([]byte(nil), c.Data...)
			chunks = append(chunks, c)
			mu.Unlock()
			b.Release()
			return nil
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := events
		mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if events != want {
		t.Fatalf("%d events, want %d", events, want)
	}
	return chunks, jf.Position(), st, dec.Replayed.Load()
}

func TestJournalFollower(t *testing.T) {
	prog, argsFile := fakeJournalctl(t)
	// kernel.json: three knock lines and a Latin-1 netfilter line are
	// events; the NIC line is not.
	_, pos, st, _ := runJournal(t, JournalOptions{Journalctl: prog, Kernel: true, Matches: []string{"_TRANSPORT=kernel"}}, 4)
	if pos.Seq != 5 || pos.Cursor == "" || pos.Realtime == 0 {
		t.Errorf("position %+v", pos)
	}
	if n := st.Records.Load(); n != 5 {
		t.Errorf("%d records, want 5", n)
	}
	// Restart after the first entry, replaying up to the fourth: the
	// second to fourth entries are replayed, the fifth is new.
	chunks, _, _, _ := runJournal(t, JournalOptions{Journalctl: prog}, 4)
	first := JournalPos{}
	fourth := JournalPos{}
	var seq uint64
	for _, c := range chunks {
		for _, line := range strings.Split(strings.TrimSpace(string(c.Data)), "\n") {
			seq++
			cur := string(field([]byte(line), tokCursor))
			if seq == 1 {
				first = JournalPos{Cursor: cur, Seq: 1}
			}
			if seq == 4 {
				fourth = JournalPos{Cursor: cur, Seq: 4}
			}
		}
	}
	_, pos, st, replayed := runJournal(t, JournalOptions{Journalctl: prog, Start: first, ReplayUntil: fourth}, 3)
	if replayed != 3 || st.Records.Load() != 1 {
		t.Errorf("replayed %d records and read %d new, want 3 and 1", replayed, st.Records.Load())
	}
	if pos.Seq != 5 {
		t.Errorf("numbering %+v, want 5 after the restart", pos)
	}
	args, _ := os.ReadFile(argsFile)
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	if !strings.Contains(lines[0], "--output=json --follow") || !strings.Contains(lines[0], "--dmesg") || !strings.Contains(lines[0], "--lines=0") || !strings.HasSuffix(lines[0], "_TRANSPORT=kernel") {
		t.Errorf("first run: journalctl %s", lines[0])
	}
	if !strings.Contains(lines[len(lines)-1], "--after-cursor="+first.Cursor) {
		t.Errorf("restart: journalctl %s", lines[len(lines)-1])
	}
}
