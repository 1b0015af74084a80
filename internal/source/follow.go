package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/klauspost/compress/gzip"
)

// This file follows one log file across rotation. It is written here rather
// than taken from a library: nxadm/tail (the maintained fork of hpcloud/tail)
// has had no commit since 2023 and still loses or repeats lines at rotation
// (nxadm/tail#74, hpcloud/tail#127), and its API hands out a fresh string
// per line. The design follows fluent-bit's fix (fluent/fluent-bit#11750):
//
//   - a file is identified by (device, inode), plus a fingerprint of its
//     first bytes so a truncated and rewritten file, or a reused inode, is
//     told apart;
//   - when the path names another file (rename rotation, logrotate's
//     "create" mode), the old descriptor is kept and drained to its end,
//     and drained again for RotateWait in case the writer has not reopened
//     yet, before it is closed;
//   - a file that shrank below the read offset, or whose first bytes
//     changed, was truncated (logrotate's "copytruncate"): reading starts
//     again at 0 and the truncation is counted;
//   - inotify (fsnotify, on the directory, so creations and renames are
//     seen) wakes the follower; a poll every PollInterval catches what
//     inotify misses (queue overflow, network file systems);
//   - lines longer than MaxLine are counted and skipped, never split;
//   - positions are (device, inode, offset, line, fingerprint), saved by the
//     caller; on start-up a saved position whose file was rotated away is
//     found again among the neighbours (path.1, or path.1.gz by its
//     fingerprint), its rest is read, then the new file from its start.

// FileID identifies a file independently of its name.
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// Position is where reading of a followed file stopped.
type Position struct {
	FileID
	// Offset is the byte offset after the last complete line consumed.
	Offset int64 `json:"offset"`
	// Line is the number of lines before Offset, so evidence keeps naming
	// lines by number after a restart.
	Line uint64 `json:"line"`
	// Head is the file's first bytes (up to headLen), to recognise it after
	// a rotation renamed or compressed it.
	Head []byte `json:"head,omitempty"`
}

// IsZero reports whether p is no position.
func (p Position) IsZero() bool { return p.Dev == 0 && p.Ino == 0 && p.Offset == 0 }

// headLen is how many leading bytes fingerprint a file. Log lines start
// with a timestamp, so two files rarely share their first 256 bytes.
const headLen = 256

// FollowOptions configure a Follower.
type FollowOptions struct {
	// Path is the file to follow.
	Path string
	// FromStart starts a file with no saved position at its beginning
	// rather than its end.
	FromStart bool
	// Start is the saved position to resume at (replay from there); zero
	// for none.
	Start Position
	// ReplayUntil, if set, marks the lines up to it as replayed: they
	// were read before a restart and are read again only to rebuild
	// detector state.
	ReplayUntil Position
	// Neighbours looks for a saved position's file among the rotated
	// neighbours (path.1, path.1.gz) when path names another file.
	Neighbours bool
	// PollInterval is how often the file is checked without an inotify
	// event (default 1s).
	PollInterval time.Duration
	// RotateWait is how long a rotated file's descriptor is kept and
	// drained after the path names a new file (default 5s).
	RotateWait time.Duration
	// MaxLine is the longest line; longer lines are skipped and reported
	// (default DefaultMaxLine).
	MaxLine int
	// ReadSize is the size of one read (default 256KiB).
	ReadSize int
	// Stats receives the counters (nil: the follower's own).
	Stats  *FollowStats
	Logger *slog.Logger
}

// Chunk is a run of complete lines from a followed file.
type Chunk struct {
	// Data holds complete lines, each ending in '\n'. It is valid until the
	// emit function returns.
	Data []byte
	// FirstLine is the number of the first line in Data.
	FirstLine uint64
	// TooLong are line numbers skipped for being longer than MaxLine,
	// before the lines of Data.
	TooLong []uint64
	// End is the position after Data; a new file generation restarts
	// line numbers at 1.
	End Position
	// Replay says these lines were read before a restart.
	Replay bool
	// CaughtUp says the follower reached the end of the file.
	CaughtUp bool
	// Head holds the first lines of a file (at most maxPrime bytes, none
	// past where reading starts) on the first chunk read from it when
	// reading starts inside it: at its end, or at a saved position. A
	// format whose records depend on header lines (Zeek's #fields, a CSV
	// header row) takes them from there; see LiveDecoder.Prime.
	Head []byte
}

// maxPrime bounds Chunk.Head: headers are a few lines.
const maxPrime = 64 << 10

// FollowStats are a follower's counters.
type FollowStats struct {
	Bytes       atomic.Int64
	Rotations   atomic.Int64
	Truncations atomic.Int64
	// Lost counts rotations whose unread rest could not be found again on
	// start-up (the rotated file was removed or compressed beyond
	// recognition).
	Lost atomic.Int64
}

// Follower follows one file.
type Follower struct {
	opts  FollowOptions
	log   *slog.Logger
	Stats *FollowStats

	cur     *openFile
	rotated []*rotatedFile
	replay  bool
	buf     []byte
}

type openFile struct {
	r       io.Reader
	f       *os.File
	name    string
	id      FileID
	off     int64
	line    uint64
	head    []byte
	carry   []byte
	skip    bool // in the middle of a too-long line
	tooLong []uint64
	gz      bool
	eof     bool
	// announce: the file was just opened as the current one; its start
	// position is emitted before its first lines (the replay position of
	// an input that has none saved).
	announce bool
	// prime is the file's head, to be sent with the next chunk (Chunk.Head).
	prime []byte
}

type rotatedFile struct {
	f     *openFile
	until time.Time
}

// NewFollower makes a follower; Run starts it.
func NewFollower(opts FollowOptions) *Follower {
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.RotateWait <= 0 {
		opts.RotateWait = 5 * time.Second
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.ReadSize <= 0 {
		opts.ReadSize = 256 << 10
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := opts.Stats
	if st == nil {
		st = &FollowStats{}
	}
	return &Follower{opts: opts, log: log.With("path", opts.Path), Stats: st, replay: !opts.ReplayUntil.IsZero()}
}

func fileID(fi fs.FileInfo) FileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return FileID{Dev: uint64(st.Dev), Ino: st.Ino}
	}
	return FileID{}
}

// Run follows the file until ctx is done, calling emit for every chunk of
// lines (from this goroutine). It returns nil on cancellation; an error
// from emit ends it with that error.
func (fw *Follower) Run(ctx context.Context, emit func(Chunk) error) error {
	defer fw.closeAll()
	fw.buf = make([]byte, fw.opts.ReadSize)
	if err := fw.start(ctx, emit); err != nil {
		return err
	}
	if fw.cur == nil {
		// No file yet: nothing to catch up with.
		if err := emit(Chunk{CaughtUp: true, Replay: fw.replay}); err != nil {
			return err
		}
	}
	w, err := fsnotify.NewWatcher()
	var events chan fsnotify.Event
	var errs chan error
	if err == nil {
		if err = w.Add(filepath.Dir(fw.opts.Path)); err == nil {
			events, errs = w.Events, w.Errors
		}
		defer w.Close()
	}
	if err != nil {
		fw.log.Warn("inotify unavailable, polling only", "err", err)
	}
	tick := time.NewTicker(fw.opts.PollInterval)
	defer tick.Stop()
	base := filepath.Base(fw.opts.Path)
	for {
		if err := fw.step(ctx, emit); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Base(ev.Name) != base && ev.Name != filepath.Dir(fw.opts.Path) {
				// Another file in the directory; a rotation shows as a
				// rename of ours, so nothing is missed.
				continue
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Queue overflow or a watch error: the poll and the next
			// step rescan.
			fw.log.Debug("inotify", "err", err)
		case <-tick.C:
		}
	}
}

// start opens the file at the saved position, finding it among the
// rotated neighbours if it moved while the sensor was stopped.
func (fw *Follower) start(ctx context.Context, emit func(Chunk) error) error {
	p := fw.opts.Path
	st := fw.opts.Start
	fi, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("follow %s: %w", p, err)
	}
	if st.IsZero() {
		if err != nil {
			return nil // not there yet: step opens it when it appears
		}
		return fw.openCurrent(!fw.opts.FromStart)
	}
	if err == nil && fileID(fi) == st.FileID {
		if err := fw.openCurrent(false); err != nil {
			return err
		}
		if fw.cur == nil {
			return nil
		}
		if fw.samePrefix(fw.cur, st) && fi.Size() >= st.Offset {
			fw.seek(fw.cur, st)
			return nil
		}
		// Same inode, other content: truncated in place while stopped
		// (copytruncate), or the inode was reused by a new file after the
		// old one was rotated and compressed. Either way the rest of the
		// old content may be in a neighbour (path.1 is a copy,
		// path.1.gz the compressed file): find it by its first bytes.
		fw.replay = false
		if fw.opts.Neighbours {
			if old := fw.findNeighbour(st); old != nil {
				fw.log.Info("resuming a file rotated while stopped", "neighbour", old.name, "offset", st.Offset)
				err := fw.drain(ctx, old, emit, false)
				old.close()
				fw.Stats.Rotations.Add(1)
				return err
			}
		}
		fw.Stats.Truncations.Add(1)
		fw.log.Info("file was truncated while stopped; reading from its start")
		return nil
	}
	// The saved file is no longer at the path: read its rest from a
	// neighbour, then the file now at the path from its start.
	if fw.opts.Neighbours {
		if old := fw.findNeighbour(st); old != nil {
			fw.log.Info("resuming a file rotated while stopped", "neighbour", old.name, "offset", st.Offset)
			if err := fw.drain(ctx, old, emit, false); err != nil {
				old.close()
				return err
			}
			old.close()
		} else {
			fw.Stats.Lost.Add(1)
			fw.log.Warn("the file read before the restart was rotated away and not found among its neighbours; lines written to it after the last checkpoint are lost")
		}
	} else {
		fw.Stats.Lost.Add(1)
	}
	fw.Stats.Rotations.Add(1)
	if err != nil {
		return nil
	}
	return fw.openCurrent(false)
}

// samePrefix reports whether f starts with the bytes a position saw.
func (fw *Follower) samePrefix(f *openFile, p Position) bool {
	n := min(len(p.Head), len(f.head))
	return bytes.Equal(p.Head[:n], f.head[:n])
}

func (fw *Follower) seek(f *openFile, p Position) {
	if _, err := f.f.Seek(p.Offset, io.SeekStart); err == nil {
		f.off, f.line = p.Offset, p.Line
		f.prime = primeOf(f.f, p.Offset)
	}
}

// primeOf reads the complete lines among the first bytes of a file read
// from off on (Chunk.Head).
func primeOf(r io.ReaderAt, off int64) []byte {
	if off <= 0 {
		return nil
	}
	buf := make([]byte, min(off, maxPrime))
	n, _ := r.ReadAt(buf, 0)
	return cutLines(buf[:n])
}

// cutLines drops a partial last line.
func cutLines(b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[:i+1]
	}
	return nil
}

// findNeighbour opens the rotated file that holds position p and positions
// it there: among the names in the directory that start with the base name
// (path.1, path-20251122, path.1.gz), the one with p's inode, else a plain
// or compressed one that starts with p's first bytes (a copytruncate copy,
// a compressed rotation).
func (fw *Follower) findNeighbour(p Position) *openFile {
	dir, base := filepath.Dir(fw.opts.Path), filepath.Base(fw.opts.Path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var plain, gzs []string
	for _, e := range entries {
		n := e.Name()
		if n == base || len(n) <= len(base) || n[:len(base)] != base || !e.Type().IsRegular() {
			continue
		}
		full := filepath.Join(dir, n)
		if filepath.Ext(n) == ".gz" {
			gzs = append(gzs, full)
			continue
		}
		fi, err := os.Stat(full)
		if err != nil {
			continue
		}
		if fileID(fi) == p.FileID && p.FileID != (FileID{}) {
			if f, err := fw.open(full); err == nil {
				fw.seek(f, p)
				return f
			}
			continue
		}
		plain = append(plain, full)
	}
	if len(p.Head) == 0 {
		return nil
	}
	for _, name := range plain {
		f, err := fw.open(name)
		if err != nil {
			continue
		}
		if len(f.head) >= len(p.Head) && fw.samePrefix(f, p) {
			if fi, err := f.f.Stat(); err == nil && fi.Size() >= p.Offset {
				fw.seek(f, p)
				return f
			}
		}
		f.close()
	}
	for _, g := range gzs {
		f, err := fw.openGzip(g)
		if err != nil {
			continue
		}
		if len(f.head) >= len(p.Head) && fw.samePrefix(f, p) {
			prime := make([]byte, min(p.Offset, maxPrime))
			n, err := io.ReadFull(f.r, prime)
			if err == nil {
				_, err = io.CopyN(io.Discard, f.r, p.Offset-int64(n))
			}
			if err == nil {
				f.off, f.line, f.prime = p.Offset, p.Line, cutLines(prime)
				return f
			}
		}
		f.close()
	}
	return nil
}

func (fw *Follower) open(name string) (*openFile, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f := &openFile{r: fh, f: fh, name: name, id: fileID(fi)}
	var h [headLen]byte
	n, _ := fh.ReadAt(h[:], 0)
	f.head = append([]byte(nil), h[:n]...)
	return f, nil
}

// openGzip opens a compressed neighbour. Its offsets count decompressed
// bytes; its head is read from the stream and put back in front of it.
func (fw *Follower) openGzip(name string) (*openFile, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReader(fh))
	if err != nil {
		fh.Close()
		return nil, err
	}
	var h [headLen]byte
	n, _ := io.ReadFull(zr, h[:])
	head := append([]byte(nil), h[:n]...)
	return &openFile{r: io.MultiReader(bytes.NewReader(head), zr), f: fh, name: name, gz: true, head: head}, nil
}

func (f *openFile) close() {
	if f != nil && f.f != nil {
		f.f.Close()
		f.f = nil
	}
}

func (fw *Follower) closeAll() {
	fw.cur.close()
	for _, r := range fw.rotated {
		r.f.close()
	}
}

// openCurrent opens the file at the path, at its end if atEnd.
func (fw *Follower) openCurrent(atEnd bool) error {
	f, err := fw.open(fw.opts.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("follow: %w", err)
	}
	if atEnd {
		end, err := f.f.Seek(0, io.SeekEnd)
		if err == nil {
			// Lines before the end are not read; count them so line
			// numbers stay true.
			f.line = countLines(f.f, end)
			f.off = end
			f.prime = primeOf(f.f, end)
			_, _ = f.f.Seek(end, io.SeekStart)
		}
	}
	f.announce = true
	fw.cur = f
	if fw.replay && f.id != fw.opts.ReplayUntil.FileID {
		// The file read before the restart is gone from the path (and was
		// drained from a neighbour, or lost): this one is new.
		fw.replay = false
	}
	return nil
}

// countLines counts the newlines in the first n bytes of f.
func countLines(f *os.File, n int64) uint64 {
	var lines uint64
	buf := make([]byte, 64<<10)
	var off int64
	for off < n {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		lines += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err != nil {
			break
		}
	}
	return lines
}

// step reads what is new and handles rotation and truncation.
func (fw *Follower) step(ctx context.Context, emit func(Chunk) error) error {
	now := time.Now()
	// Rotated files first: their lines are older than the new file's.
	keep := fw.rotated[:0]
	for _, r := range fw.rotated {
		if err := fw.drain(ctx, r.f, emit, false); err != nil {
			return err
		}
		if now.Before(r.until) {
			keep = append(keep, r)
		} else {
			r.f.close()
		}
	}
	clear(fw.rotated[len(keep):])
	fw.rotated = keep

	fi, statErr := os.Stat(fw.opts.Path)
	if fw.cur == nil {
		if statErr != nil {
			return nil
		}
		if err := fw.openCurrent(false); err != nil {
			return err
		}
		if fw.cur == nil {
			return nil
		}
	}
	if err := fw.drain(ctx, fw.cur, emit, statErr == nil && fileID(fi) == fw.cur.id); err != nil {
		return err
	}
	if statErr != nil {
		// Renamed away and not yet recreated: keep reading the old file.
		return nil
	}
	if fileID(fi) != fw.cur.id {
		// Rotated: the old descriptor was drained above; keep draining it
		// a little while, and read the new file from its start.
		fw.Stats.Rotations.Add(1)
		fw.log.Info("file rotated", "old_inode", fw.cur.id.Ino, "new_inode", fileID(fi).Ino)
		fw.rotated = append(fw.rotated, &rotatedFile{f: fw.cur, until: now.Add(fw.opts.RotateWait)})
		fw.cur = nil
		if err := fw.openCurrent(false); err != nil {
			return err
		}
		if fw.cur != nil {
			return fw.drain(ctx, fw.cur, emit, true)
		}
		return nil
	}
	if fw.truncated(fw.cur) {
		fw.Stats.Truncations.Add(1)
		fw.log.Info("file truncated (copytruncate); reading from its start", "offset", fw.cur.off)
		id := fw.cur.id
		fw.cur.close()
		fw.cur = nil
		if err := fw.openCurrent(false); err != nil {
			return err
		}
		if fw.cur != nil {
			if fw.cur.id != id {
				fw.Stats.Rotations.Add(1)
			}
			return fw.drain(ctx, fw.cur, emit, true)
		}
	}
	return nil
}

// truncated reports whether the file under f shrank below what was read,
// or its first bytes changed (truncated and written again past the old
// offset between two looks).
func (fw *Follower) truncated(f *openFile) bool {
	// The open descriptor's size now, not the path's before the drain:
	// the file may have grown past that while it was read.
	fi, err := f.f.Stat()
	if err != nil {
		return false
	}
	if fi.Size() < f.off {
		return true
	}
	if len(f.head) == 0 {
		return false
	}
	var h [headLen]byte
	n, _ := f.f.ReadAt(h[:len(f.head)], 0)
	if n < len(f.head) {
		// Shorter than the head it had: rewritten.
		return true
	}
	return !bytes.Equal(h[:n], f.head)
}

// drain reads f to its current end, emitting complete lines. current says
// f is the file at the path (its caught-up state is reported).
func (fw *Follower) drain(ctx context.Context, f *openFile, emit func(Chunk) error, current bool) error {
	if f == nil || f.f == nil {
		return nil
	}
	if prime := f.prime; prime != nil {
		// The head rides on the first chunk emitted; kept for the next
		// drain if there is none yet.
		f.prime = nil
		defer func() { f.prime = prime }()
		inner := emit
		emit = func(ch Chunk) error {
			if prime != nil {
				ch.Head, prime = prime, nil
			}
			return inner(ch)
		}
	}
	if f.announce {
		f.announce = false
		if err := emit(Chunk{End: f.pos(), FirstLine: f.line + 1, Replay: fw.replay}); err != nil {
			return err
		}
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := f.r.Read(fw.buf)
		if n > 0 {
			fw.Stats.Bytes.Add(int64(n))
			if len(f.head) < headLen && !f.gz {
				// A file that started shorter than the fingerprint grows
				// into it.
				var h [headLen]byte
				k, _ := f.f.ReadAt(h[:], 0)
				f.head = append(f.head[:0], h[:k]...)
			}
			if err := fw.lines(f, fw.buf[:n], emit); err != nil {
				return err
			}
			f.eof = false
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("follow %s: %w", f.name, err)
		}
		if f.gz && len(f.carry) > 0 {
			// A compressed neighbour will not grow: its last line may lack
			// a newline.
			f.carry = append(f.carry, '\n')
			if err := fw.lines(f, nil, emit); err != nil {
				return err
			}
		}
		if current && !f.eof {
			f.eof = true
			return emit(Chunk{End: f.pos(), FirstLine: f.line + 1, CaughtUp: true, Replay: fw.replay})
		}
		return nil
	}
}

func (f *openFile) pos() Position {
	return Position{FileID: f.id, Offset: f.off, Line: f.line, Head: f.head}
}

// lines cuts data (after what was carried from the previous read) into
// complete lines and emits them; a partial last line is carried.
func (fw *Follower) lines(f *openFile, data []byte, emit func(Chunk) error) error {
	max := fw.opts.MaxLine
	for len(data) > 0 {
		if f.skip {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				f.off += int64(len(data))
				return nil
			}
			f.off += int64(nl + 1)
			f.line++
			data = data[nl+1:]
			f.skip = false
			continue
		}
		if len(f.carry) > 0 {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				if len(f.carry)+len(data) > max {
					f.tooLong = append(f.tooLong, f.line+1)
					f.off += int64(len(f.carry) + len(data))
					f.carry = f.carry[:0]
					f.skip = true
					return nil
				}
				f.carry = append(f.carry, data...)
				return nil
			}
			f.carry = append(f.carry, data[:nl+1]...)
			data = data[nl+1:]
			if len(f.carry)-1 > max {
				f.tooLong = append(f.tooLong, f.line+1)
				f.off += int64(len(f.carry))
				f.line++
				f.carry = f.carry[:0]
				continue
			}
			err := fw.emitLines(f, f.carry, emit)
			f.carry = f.carry[:0]
			if err != nil {
				return err
			}
			continue
		}
		last := bytes.LastIndexByte(data, '\n')
		if last < 0 {
			if len(data) > max {
				f.tooLong = append(f.tooLong, f.line+1)
				f.off += int64(len(data))
				f.skip = true
				return nil
			}
			f.carry = append(f.carry, data...)
			return nil
		}
		if err := fw.emitLines(f, data[:last+1], emit); err != nil {
			return err
		}
		data = data[last+1:]
	}
	return nil
}

// emitLines emits complete lines, split at the replay boundary.
func (fw *Follower) emitLines(f *openFile, chunk []byte, emit func(Chunk) error) error {
	for len(chunk) > 0 {
		part := chunk
		replay := fw.replay
		if replay && f.id == fw.opts.ReplayUntil.FileID && !f.gz {
			// Lines ending at or before the saved read position were
			// read before the restart; positions are at line ends.
			limit := fw.opts.ReplayUntil.Offset - f.off
			if limit <= 0 {
				fw.replay, replay = false, false
			} else if limit < int64(len(part)) {
				part = part[:limit]
			}
		}
		out := Chunk{FirstLine: f.line + 1, TooLong: f.tooLong, Replay: replay, Data: part}
		f.tooLong = nil
		if len(part) > fw.opts.MaxLine {
			out.Data, out.TooLong = fw.blankLong(f.line+1, part, out.TooLong)
		}
		f.off += int64(len(part))
		f.line += uint64(bytes.Count(part, []byte{'\n'}))
		out.End = f.pos()
		if err := emit(out); err != nil {
			return err
		}
		chunk = chunk[len(part):]
		if replay && f.id == fw.opts.ReplayUntil.FileID && f.off >= fw.opts.ReplayUntil.Offset {
			fw.replay = false
		}
	}
	return nil
}

// blankLong replaces lines longer than MaxLine by empty lines (which the
// decoder skips), so the other lines keep their numbers, and records the
// numbers of the lines it blanked. It copies only when there is one.
func (fw *Follower) blankLong(first uint64, data []byte, tooLong []uint64) ([]byte, []uint64) {
	var out []byte
	line := first
	for rest, start := data, 0; len(rest) > 0; line++ {
		nl := bytes.IndexByte(rest, '\n')
		if nl > fw.opts.MaxLine {
			if out == nil {
				out = append(make([]byte, 0, len(data)), data[:start]...)
			}
			out = append(out, '\n')
			tooLong = append(tooLong, line)
		} else if out != nil {
			out = append(out, rest[:nl+1]...)
		}
		start += nl + 1
		rest = rest[nl+1:]
	}
	if out == nil {
		return data, tooLong
	}
	return out, tooLong
}
