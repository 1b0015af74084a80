package source

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

	"github.com/klauspost/compress/gzip"
)

// lineRec is a line a follower emitted.
type lineRec struct {
	n      uint64
	text   string
	replay bool
}

type followRun struct {
	mu      sync.Mutex
	lines   []lineRec
	tooLong []uint64
	heads   []string // Chunk.Head, each one that came
	last    Position
	caught  int
	cancel  context.CancelFunc
	done    chan error
	fw      *Follower
}

func startFollower(t *testing.T, opts FollowOptions) *followRun {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.RotateWait == 0 {
		opts.RotateWait = 300 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &followRun{cancel: cancel, done: make(chan error, 1)}
	r.fw = NewFollower(opts)
	go func() {
		r.done <- r.fw.Run(ctx, func(c Chunk) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			n := c.FirstLine
			for _, l := range strings.SplitAfter(string(c.Data), "\n") {
				if l == "" {
					continue
				}
				if l != "\n" {
					r.lines = append(r.lines, lineRec{n, strings.TrimSuffix(l, "\n"), c.Replay})
				}
				n++
			}
			r.tooLong = append(r.tooLong, c.TooLong...)
			if len(c.Head) > 0 {
				r.heads = append(r.heads, string(c.Head))
			}
			r.last = c.End
			if c.CaughtUp {
				r.caught++
			}
			return nil
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *followRun) stop(t *testing.T) Position {
	t.Helper()
	if r.cancel == nil {
		return r.last
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("follower: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *followRun) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		out = append(out, l.text)
	}
	return out
}

// waitLines waits until the follower emitted n lines.
func (r *followRun) waitLines(t *testing.T, n int) []lineRec {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.lines)
		r.mu.Unlock()
		if got >= n {
			time.Sleep(50 * time.Millisecond) // and no more than n
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.lines) != n {
				t.Fatalf("%d lines, want %d: %v", len(r.lines), n, r.lines)
			}
			return append([]lineRec(nil), r.lines...)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out with %d lines, want %d: %q", len(r.lines), n, r.texts())
	return nil
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s line %03d padding to make the head longer than a few bytes", prefix, i))
	}
	return out
}

func checkNumbers(t *testing.T, lines []lineRec, first uint64) {
	t.Helper()
	for i, l := range lines {
		if l.n != first+uint64(i) {
			t.Fatalf("line %d numbered %d, want %d (%q)", i, l.n, first+uint64(i), l.text)
		}
	}
}

func TestFollowAppendAndStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kern.log")
	appendLines(t, p, seq("old", 1, 3)...)
	r := startFollower(t, FollowOptions{Path: p})
	time.Sleep(50 * time.Millisecond)
	appendLines(t, p, seq("new", 4, 6)...)
	lines := r.waitLines(t, 3)
	checkNumbers(t, lines, 4)
	if lines[0].text != seq("new", 4, 4)[0] {
		t.Errorf("first line %q", lines[0].text)
	}
	// A partial line is held until its newline comes.
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("partial")
	time.Sleep(100 * time.Millisecond)
	f.WriteString(" rest\n")
	f.Close()
	lines = r.waitLines(t, 4)
	if lines[3].text != "partial rest" || lines[3].n != 7 {
		t.Errorf("joined line %+v", lines[3])
	}
	if pos := r.stop(t); pos.Line != 7 {
		t.Errorf("position %+v, want line 7", pos)
	}
}

// TestFollowRenameRotation: logrotate's create mode. The writer keeps
// writing to the renamed file for a moment; those lines are read too.
func TestFollowRenameRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kern.log")
	appendLines(t, p, seq("a", 1, 5)...)
	r := startFollower(t, FollowOptions{Path: p, FromStart: true})
	r.waitLines(t, 5)
	old, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	old.WriteString(seq("a", 6, 6)[0] + "\n") // the writer has not reopened yet
	appendLines(t, p, seq("b", 1, 3)...)
	old.WriteString(seq("a", 7, 7)[0] + "\n")
	old.Close()
	lines := r.waitLines(t, 10)
	var a, b []string
	for _, l := range lines {
		if strings.HasPrefix(l.text, "a") {
			a = append(a, l.text)
		} else {
			b = append(b, l.text)
		}
	}
	if strings.Join(a, "|") != strings.Join(seq("a", 1, 7), "|") || strings.Join(b, "|") != strings.Join(seq("b", 1, 3), "|") {
		t.Errorf("lines %q", r.texts())
	}
	if n := r.fw.Stats.Rotations.Load(); n != 1 {
		t.Errorf("rotations %d, want 1", n)
	}
}

// TestFollowCopyTruncate: logrotate's copytruncate mode.
func TestFollowCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kern.log")
	appendLines(t, p, seq("a", 1, 5)...)
	r := startFollower(t, FollowOptions{Path: p, FromStart: true})
	r.waitLines(t, 5)
	b, _ := os.ReadFile(p)
	os.WriteFile(p+".1", b, 0o644)
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, p, seq("b", 1, 2)...)
	lines := r.waitLines(t, 7)
	checkNumbers(t, lines[5:], 1)
	if lines[5].text != seq("b", 1, 1)[0] {
		t.Errorf("after truncation: %q", r.texts())
	}
	if n := r.fw.Stats.Truncations.Load(); n != 1 {
		t.Errorf("truncations %d, want 1", n)
	}
	// Truncated and written past the old offset before the follower
	// looked: told apart by the file's first bytes.
	pos := r.stop(t)
	os.Truncate(p, 0)
	appendLines(t, p, seq("c", 1, 10)...)
	r2 := startFollower(t, FollowOptions{Path: p, Start: pos})
	lines = r2.waitLines(t, 10)
	if lines[0].text != seq("c", 1, 1)[0] || lines[0].n != 1 {
		t.Errorf("rewritten file read from %+v", lines[0])
	}
}

func TestFollowTooLong(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kern.log")
	appendLines(t, p, "short 1", strings.Repeat("x", 300), "short 3")
	r := startFollower(t, FollowOptions{Path: p, FromStart: true, MaxLine: 100, ReadSize: 64})
	lines := r.waitLines(t, 2)
	if lines[0].n != 1 || lines[1].n != 3 || lines[1].text != "short 3" {
		t.Errorf("lines %+v", lines)
	}
	appendLines(t, p, strings.Repeat("y", 150)+"\nshort 5")
	lines = r.waitLines(t, 3)
	if lines[2].n != 5 {
		t.Errorf("lines %+v", lines)
	}
	r.stop(t)
	if fmt.Sprint(r.tooLong) != "[2 4]" {
		t.Errorf("too long %v, want [2 4]", r.tooLong)
	}
}

// TestFollowResumeAndReplay: a second follower started at a saved
// position reads only what came after it; one started earlier with
// ReplayUntil marks the lines in between as replayed.
func TestFollowResumeAndReplay(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kern.log")
	appendLines(t, p, seq("a", 1, 4)...)
	r := startFollower(t, FollowOptions{Path: p, FromStart: true})
	r.waitLines(t, 4)
	mid := r.stop(t)
	appendLines(t, p, seq("a", 5, 8)...)
	r2 := startFollower(t, FollowOptions{Path: p, Start: mid})
	lines := r2.waitLines(t, 4)
	checkNumbers(t, lines, 5)
	end := r2.stop(t)

	var start Position
	r0 := startFollower(t, FollowOptions{Path: p, FromStart: true})
	r0.waitLines(t, 8)
	r0.stop(t)
	start = Position{FileID: end.FileID, Head: end.Head}
	appendLines(t, p, seq("a", 9, 10)...)
	r3 := startFollower(t, FollowOptions{Path: p, Start: start, ReplayUntil: end})
	lines = r3.waitLines(t, 10)
	checkNumbers(t, lines, 1)
	for i, l := range lines {
		if l.replay != (i < 8) {
			t.Errorf("line %d replay=%v", l.n, l.replay)
		}
	}
}

// TestFollowNeighbours: the file was rotated (and its neighbour maybe
// compressed) while the follower was stopped.
func TestFollowNeighbours(t *testing.T) {
	for _, mode := range []string{"rename", "gzip", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "kern.log")
			appendLines(t, p, seq("a", 1, 4)...)
			r := startFollower(t, FollowOptions{Path: p, FromStart: true})
			r.waitLines(t, 4)
			pos := r.stop(t)
			appendLines(t, p, seq("a", 5, 6)...) // written after the stop
			if mode == "copytruncate" {
				b, _ := os.ReadFile(p)
				os.WriteFile(p+".1", b, 0o644)
				os.Truncate(p, 0)
			} else {
				os.Rename(p, p+".1")
			}
			if mode == "gzip" {
				b, _ := os.ReadFile(p + ".1")
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(b)
				zw.Close()
				os.WriteFile(p+".1.gz", buf.Bytes(), 0o644)
				os.Remove(p + ".1")
			}
			appendLines(t, p, seq("b", 1, 2)...)
			r2 := startFollower(t, FollowOptions{Path: p, Start: pos, Neighbours: true})
			lines := r2.waitLines(t, 4)
			want := append(seq("a", 5, 6), seq("b", 1, 2)...)
			if got := r2.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("lines %q, want %q", got, want)
			}
			checkNumbers(t, lines[:2], 5)
			checkNumbers(t, lines[2:], 1)
		})
	}
}

// TestFollowHead: reading that starts inside a file (at its end, at a
// saved position, in a compressed neighbour) brings the file's first
// lines once, for formats with a header; reading from the start does not.
func TestFollowHead(t *testing.T) {
	head := strings.Join(seq("h", 1, 2), "\n") + "\n"
	for _, mode := range []string{"end", "resume", "gzip", "start"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "conn.log")
			appendLines(t, p, seq("h", 1, 2)...)
			opts := FollowOptions{Path: p, Neighbours: true}
			switch mode {
			case "start":
				opts.FromStart = true
			case "resume", "gzip":
				r := startFollower(t, FollowOptions{Path: p, FromStart: true})
				r.waitLines(t, 2)
				opts.Start = r.stop(t)
				if mode == "gzip" {
					appendLines(t, p, "a1")
					b, _ := os.ReadFile(p)
					var buf bytes.Buffer
					zw := gzip.NewWriter(&buf)
					zw.Write(b)
					zw.Close()
					os.WriteFile(p+".1.gz", buf.Bytes(), 0o644)
					os.Remove(p)
					appendLines(t, p, "b1")
				}
			}
			r := startFollower(t, opts)
			want := []string{head}
			switch mode {
			case "start":
				r.waitLines(t, 2)
				want = nil
			case "gzip":
				r.waitLines(t, 2) // a1 from the neighbour, b1
			default:
				time.Sleep(100 * time.Millisecond)
				appendLines(t, p, "a1")
				r.waitLines(t, 1)
			}
			r.stop(t)
			if strings.Join(r.heads, "|") != strings.Join(want, "|") {
				t.Errorf("heads %q, want %q", r.heads, want)
			}
		})
	}
}
