package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"time"
)

// The journald input runs `journalctl -o json --follow` and reads its
// standard output, as CrowdSec does: the Go bindings of sd-journal
// (coreos/go-systemd/sdjournal) need cgo. Each entry's __CURSOR is its
// position: a restart passes --after-cursor, so no entry is read twice or
// skipped while the journal still holds it.

// JournalPos is where reading of the journal stopped.
type JournalPos struct {
	// Cursor is the last entry's __CURSOR.
	Cursor string `json:"cursor,omitempty"`
	// Realtime is its __REALTIME_TIMESTAMP (µs), to end a replay even if
	// the journal no longer holds the cursor.
	Realtime uint64 `json:"realtime_us,omitempty"`
	// Seq numbers entries for evidence ("journald:1234"), across restarts.
	Seq uint64 `json:"seq"`
}

// JournalOptions configure a JournalFollower.
type JournalOptions struct {
	// Journalctl is the program (default "journalctl").
	Journalctl string
	// Matches are journalctl match arguments; Kernel adds -k.
	Matches []string
	Kernel  bool
	// Start is the position to read after (replay from there); zero
	// starts with new entries.
	Start JournalPos
	// ReplayUntil marks entries up to it as replayed.
	ReplayUntil JournalPos
	// MaxLine caps one entry's JSON (default DefaultMaxLine).
	MaxLine int
	Logger  *slog.Logger
}

// JournalChunk is a run of journal entries, one JSON object per line.
type JournalChunk struct {
	Data      []byte
	FirstLine uint64
	TooLong   []uint64
	End       JournalPos
	Replay    bool
	CaughtUp  bool
}

// JournalFollower follows the journal.
type JournalFollower struct {
	opts   JournalOptions
	log    *slog.Logger
	pos    JournalPos
	replay bool
	// Restarts counts journalctl processes that ended and were started
	// again.
	Restarts int64
}

// NewJournalFollower makes a follower; Run starts it.
func NewJournalFollower(opts JournalOptions) *JournalFollower {
	if opts.Journalctl == "" {
		opts.Journalctl = "journalctl"
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &JournalFollower{opts: opts, log: log, pos: opts.Start, replay: opts.ReplayUntil.Cursor != ""}
}

// Args returns journalctl's arguments for reading after pos.
func (j *JournalFollower) Args(pos JournalPos) []string {
	args := []string{"--output=json", "--follow", "--no-pager", "--quiet"}
	if j.opts.Kernel {
		args = append(args, "--dmesg")
	}
	if pos.Cursor != "" {
		args = append(args, "--after-cursor="+pos.Cursor)
	} else {
		args = append(args, "--lines=0")
	}
	return append(args, j.opts.Matches...)
}

// Run reads the journal until ctx is done, starting journalctl again (after
// the last entry read) if it ends.
func (j *JournalFollower) Run(ctx context.Context, emit func(JournalChunk) error) error {
	backoff := time.Second
	for {
		started := time.Now()
		err := j.runOnce(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		var ee emitError
		if errors.As(err, &ee) {
			return ee.err
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		j.Restarts++
		j.log.Warn("journalctl ended; starting it again", "err", err, "in", backoff)
		// Nothing to catch up with meanwhile: say so, or the sensor would
		// hold its other inputs back waiting for the journal.
		if err := emit(JournalChunk{End: j.pos, FirstLine: j.pos.Seq + 1, CaughtUp: true, Replay: j.replay}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

func (j *JournalFollower) runOnce(ctx context.Context, emit func(JournalChunk) error) error {
	cmd := exec.CommandContext(ctx, j.opts.Journalctl, j.Args(j.pos)...)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("journalctl: %w", err)
	}
	rerr := j.read(out, emit)
	werr := cmd.Wait()
	if rerr != nil {
		return rerr
	}
	if werr != nil {
		return fmt.Errorf("journalctl: %w: %s", werr, bytes.TrimSpace(stderr.Bytes()))
	}
	return errors.New("journalctl exited")
}

var (
	tokCursor   = []byte(`"__CURSOR":"`)
	tokRealtime = []byte(`"__REALTIME_TIMESTAMP":"`)
)

// field finds a string field's value in one journal entry without parsing
// the JSON: journalctl writes __CURSOR and __REALTIME_TIMESTAMP as plain
// strings without escapes.
func field(line, tok []byte) []byte {
	i := bytes.Index(line, tok)
	if i < 0 {
		return nil
	}
	v := line[i+len(tok):]
	if k := bytes.IndexByte(v, '"'); k >= 0 {
		return v[:k]
	}
	return nil
}

func (j *JournalFollower) read(r io.Reader, emit func(JournalChunk) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		data    []byte
		tooLong []uint64
		first   uint64
		replay  bool
	)
	flush := func(caughtUp bool) error {
		if len(data) == 0 && len(tooLong) == 0 && !caughtUp {
			return nil
		}
		c := JournalChunk{Data: data, FirstLine: first, TooLong: tooLong, End: j.pos, Replay: replay, CaughtUp: caughtUp}
		err := emit(c)
		data, tooLong = data[:0], nil
		if err != nil {
			return emitError{err}
		}
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		long := false
		for errors.Is(err, bufio.ErrBufferFull) {
			long = true
			_, err = br.ReadSlice('\n')
		}
		if len(line) > 0 && err == nil {
			var cursor []byte
			var realtime uint64
			tooBig := long || len(line) > j.opts.MaxLine+1
			if !tooBig {
				cursor = field(line, tokCursor)
				if t := field(line, tokRealtime); t != nil {
					realtime, _ = strconv.ParseUint(string(t), 10, 64)
				}
			}
			if j.replay && j.opts.ReplayUntil.Realtime > 0 && realtime > j.opts.ReplayUntil.Realtime {
				// Past the last entry read before the restart (which the
				// journal no longer holds): this one is new.
				if ferr := flush(false); ferr != nil {
					return ferr
				}
				j.replay = false
			}
			j.pos.Seq++
			if len(data) == 0 {
				first, replay = j.pos.Seq, j.replay
			}
			if tooBig {
				tooLong = append(tooLong, j.pos.Seq)
				// An empty line in its place keeps the numbering.
				data = append(data, '\n')
			} else {
				if cursor != nil {
					j.pos.Cursor = string(cursor)
				}
				if realtime > 0 {
					j.pos.Realtime = realtime
				}
				data = append(data, line...)
			}
			if j.replay && j.pos.Cursor == j.opts.ReplayUntil.Cursor {
				// The entry read last before the restart: what follows is
				// new.
				if ferr := flush(false); ferr != nil {
					return ferr
				}
				j.replay = false
			}
			if len(data) >= 256<<10 || br.Buffered() == 0 {
				if ferr := flush(br.Buffered() == 0); ferr != nil {
					return ferr
				}
			}
			continue
		}
		if ferr := flush(false); ferr != nil {
			return ferr
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// Position returns the position after the last entry read.
func (j *JournalFollower) Position() JournalPos { return j.pos }

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
