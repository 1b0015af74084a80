package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Spool is a bounded first-in first-out queue of alerts on disk, one per
// sink: alerts the sink could not take wait there, in order, until it takes
// them again. Records are JSON lines in numbered segment files; a cursor
// file says how far delivery got. Appends are not synced one by one: Sync
// makes them durable, and the sensor calls it before it saves its read
// positions, so an alert is either in a synced spool or its input lines are
// read again after a crash.
type Spool struct {
	dir string
	max int64

	mu       sync.Mutex
	segs     []uint64 // segment numbers, oldest first
	headSeg  uint64
	headOff  int64
	reader   *os.File
	rbuf     *bufio.Reader
	peeked   int // length of the record Peek returned, with its LF
	tail     *os.File
	tailSeg  uint64
	tailSize int64
	bytes    int64 // bytes not yet delivered
	records  int64
	dirty    bool
}

// ErrSpoolFull is returned by Append when the spool is at its cap.
var ErrSpoolFull = errors.New("spool full")

const segmentBytes = 4 << 20

type spoolCursor struct {
	Seg uint64 `json:"segment"`
	Off int64  `json:"offset"`
}

// OpenSpool opens (or creates) the spool in dir, capped at max bytes.
func OpenSpool(dir string, max int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, max: max}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".jsonl"), 10, 64)
		if err == nil {
			s.segs = append(s.segs, n)
		}
	}
	slices.Sort(s.segs)
	var cur spoolCursor
	if b, err := os.ReadFile(filepath.Join(dir, "cursor.json")); err == nil {
		_ = json.Unmarshal(b, &cur)
	}
	// Drop segments the cursor is past.
	for len(s.segs) > 0 && s.segs[0] < cur.Seg {
		os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) > 0 && s.segs[0] == cur.Seg {
		s.headSeg, s.headOff = cur.Seg, cur.Off
	} else if len(s.segs) > 0 {
		s.headSeg, s.headOff = s.segs[0], 0
	}
	for _, n := range s.segs {
		b, err := os.ReadFile(s.segPath(n))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if n == s.headSeg {
			if s.headOff > int64(len(b)) {
				s.headOff = int64(len(b))
			}
			b = b[s.headOff:]
		}
		// A record cut by a crash has no LF: it is dropped with the rest
		// of that segment's tail.
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = nil
		}
		s.bytes += int64(len(b))
		s.records += int64(bytes.Count(b, []byte{'\n'}))
	}
	if len(s.segs) > 0 {
		s.tailSeg = s.segs[len(s.segs)-1]
	}
	return s, nil
}

func (s *Spool) segPath(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d.jsonl", n))
}

// Len returns the number of records waiting; Bytes their size.
func (s *Spool) Len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Bytes returns the size of the records waiting.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Append adds a record (one line, without LF).
func (s *Spool) Append(rec []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int64(len(rec) + 1)
	if s.bytes+n > s.max {
		return ErrSpoolFull
	}
	if s.tail == nil || s.tailSize+n > segmentBytes {
		if s.tail != nil {
			_ = s.tail.Sync()
			s.tail.Close()
			s.tailSeg++
		} else if len(s.segs) > 0 {
			s.tailSeg = s.segs[len(s.segs)-1] + 1
		} else {
			s.tailSeg = max(s.tailSeg, s.headSeg) + 1
		}
		f, err := os.OpenFile(s.segPath(s.tailSeg), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.tail, s.tailSize = f, 0
		s.segs = append(s.segs, s.tailSeg)
		if len(s.segs) == 1 {
			s.headSeg, s.headOff = s.tailSeg, 0
		}
	}
	line := append(append(make([]byte, 0, n), rec...), '\n')
	if _, err := s.tail.Write(line); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.tailSize += n
	s.bytes += n
	s.records++
	s.dirty = true
	return nil
}

// Sync makes appended records durable.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tail != nil && s.dirty {
		s.dirty = false
		return s.tail.Sync()
	}
	return nil
}

// Peek returns the oldest record without removing it; ok is false when the
// spool is empty.
func (s *Spool) Peek() (rec []byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.records > 0 {
		if s.reader == nil {
			f, err := os.Open(s.segPath(s.headSeg))
			if err != nil {
				return nil, false, fmt.Errorf("spool: %w", err)
			}
			if _, err := f.Seek(s.headOff, io.SeekStart); err != nil {
				f.Close()
				return nil, false, fmt.Errorf("spool: %w", err)
			}
			s.reader, s.rbuf = f, bufio.NewReaderSize(f, 64<<10)
		}
		line, err := s.rbuf.ReadBytes('\n')
		if err == nil {
			s.peeked = len(line)
			// Peek again returns the same record: unread it.
			s.reader.Seek(s.headOff, io.SeekStart)
			s.rbuf.Reset(s.reader)
			return line[:len(line)-1], true, nil
		}
		// End of this segment: go to the next one.
		if s.headSeg == s.tailSeg || len(s.segs) < 2 {
			// Records counted but not readable (cut by a crash): forget
			// them.
			s.records, s.bytes = 0, 0
			return nil, false, nil
		}
		s.reader.Close()
		s.reader, s.rbuf = nil, nil
		os.Remove(s.segPath(s.headSeg))
		s.segs = s.segs[1:]
		s.headSeg, s.headOff = s.segs[0], 0
	}
	return nil, false, nil
}

// Ack removes the record Peek returned.
func (s *Spool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peeked == 0 {
		return nil
	}
	s.headOff += int64(s.peeked)
	s.bytes -= int64(s.peeked)
	s.records--
	s.peeked = 0
	if s.reader != nil {
		s.reader.Seek(s.headOff, io.SeekStart)
		s.rbuf.Reset(s.reader)
	}
	if s.records == 0 {
		// Empty: start over with fresh segments.
		if s.reader != nil {
			s.reader.Close()
			s.reader, s.rbuf = nil, nil
		}
		if s.tail != nil {
			s.tail.Close()
			s.tail = nil
		}
		for _, n := range s.segs {
			os.Remove(s.segPath(n))
		}
		s.segs = nil
		s.bytes = 0
		s.headSeg, s.headOff = s.tailSeg+1, 0
	}
	return s.saveCursor()
}

func (s *Spool) saveCursor() error {
	b, _ := json.Marshal(spoolCursor{Seg: s.headSeg, Off: s.headOff})
	return writeFileAtomic(filepath.Join(s.dir, "cursor.json"), b)
}

// Close closes the spool's files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.tail != nil {
		err = s.tail.Sync()
		s.tail.Close()
		s.tail = nil
	}
	if s.reader != nil {
		s.reader.Close()
		s.reader = nil
	}
	return err
}

// writeFileAtomic replaces path with data (write, sync, rename).
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// DeliveryStats are one sink's counters.
type DeliveryStats struct {
	Delivered atomic.Int64
	// Failures counts failed attempts (each retry counts).
	Failures atomic.Int64
	// Rejected counts alerts the sink refused for good (a 4xx answer).
	Rejected atomic.Int64
	// Spooled counts alerts put in the spool; Dropped those that did not
	// fit.
	Spooled atomic.Int64
	Dropped atomic.Int64
	// Filtered counts alerts below the sink's minimum severity.
	Filtered atomic.Int64
}

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	Name string
	Sink Sink
	// Spool holds what the sink could not take; nil drops it (counted).
	Spool       *Spool
	MinSeverity alert.Severity
	// RetryInitial is the first wait after a failure; it doubles up to
	// RetryMax.
	RetryInitial, RetryMax time.Duration
	// Queue is how many alerts wait in memory (default 1024); more go to
	// the spool at once.
	Queue  int
	Logger *slog.Logger
}

// Deliverer hands alerts to one sink from its own goroutine, so a slow or
// failing sink holds up neither the detectors nor the other sinks. An
// alert the sink fails to take is put in the spool and retried with
// exponential backoff, oldest first; while the spool holds anything, new
// alerts queue behind it, so the sink receives alerts in order.
type Deliverer struct {
	opts  DelivererOptions
	log   *slog.Logger
	q     chan item
	Stats DeliveryStats
	wg    sync.WaitGroup
	stop  chan struct{}
	// failing is set while the sink is down (the spool is not empty).
	failing atomic.Bool
}

type item struct {
	a    *alert.Alert
	done func()
}

// NewDeliverer makes a deliverer; Start runs it.
func NewDeliverer(opts DelivererOptions) *Deliverer {
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = time.Second
	}
	if opts.RetryMax < opts.RetryInitial {
		opts.RetryMax = max(opts.RetryInitial, time.Minute)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{opts: opts, log: log.With("sink", opts.Name), q: make(chan item, opts.Queue), stop: make(chan struct{})}
	if opts.Spool != nil && opts.Spool.Len() > 0 {
		d.failing.Store(true)
	}
	return d
}

// Name returns the sink's name.
func (d *Deliverer) Name() string { return d.opts.Name }

// Spool returns the deliverer's spool (nil if none).
func (d *Deliverer) Spool() *Spool { return d.opts.Spool }

// Start runs the delivery goroutine.
func (d *Deliverer) Start() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.run()
	}()
}

// Submit hands an alert over; done is called once it was delivered,
// spooled, refused or dropped. It does not wait for the sink.
func (d *Deliverer) Submit(a *alert.Alert, done func()) {
	if a.Severity < d.opts.MinSeverity {
		d.Stats.Filtered.Add(1)
		done()
		return
	}
	select {
	case d.q <- item{a: a, done: done}:
	default:
		// The memory queue is full: the sink is slow or down.
		d.spool(a)
		done()
	}
}

func (d *Deliverer) spool(a *alert.Alert) {
	if d.opts.Spool == nil {
		d.Stats.Dropped.Add(1)
		return
	}
	b, err := json.Marshal(a)
	if err == nil {
		err = d.opts.Spool.Append(b)
	}
	if err != nil {
		d.Stats.Dropped.Add(1)
		d.log.Error("alert dropped: it could not be spooled", "id", a.ID, "err", err)
		return
	}
	d.Stats.Spooled.Add(1)
	d.failing.Store(true)
}

// write tries the sink once.
func (d *Deliverer) write(a *alert.Alert) (ok, retry bool) {
	err := d.opts.Sink.Write(a)
	if err == nil {
		d.Stats.Delivered.Add(1)
		return true, false
	}
	var rej *ErrRejected
	if errors.As(err, &rej) {
		d.Stats.Rejected.Add(1)
		d.log.Error("alert refused by the sink; not retried", "id", a.ID, "err", err)
		return false, false
	}
	d.Stats.Failures.Add(1)
	d.log.Warn("delivery failed; alert spooled for retry", "id", a.ID, "err", err)
	return false, true
}

func (d *Deliverer) run() {
	backoff := time.Duration(0)
	wait := func() bool {
		if backoff == 0 {
			backoff = d.opts.RetryInitial
		} else {
			backoff = min(backoff*2, d.opts.RetryMax)
		}
		t := time.NewTimer(backoff)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				return true
			case <-d.stop:
				return false
			case it := <-d.q:
				// The sink is down: queue behind the spool.
				d.spool(it.a)
				it.done()
			}
		}
	}
	for {
		if sp := d.opts.Spool; sp != nil && sp.Len() > 0 {
			rec, ok, err := sp.Peek()
			if err != nil {
				d.log.Error("spool read", "err", err)
				if !wait() {
					return
				}
				continue
			}
			if ok {
				var a alert.Alert
				if err := json.Unmarshal(rec, &a); err != nil {
					d.log.Error("spooled record unreadable; dropped", "err", err)
					d.Stats.Dropped.Add(1)
					_ = sp.Ack()
					continue
				}
				if _, retry := d.write(&a); retry {
					if !wait() {
						return
					}
					continue
				}
				backoff = 0
				if err := sp.Ack(); err != nil {
					d.log.Error("spool cursor", "err", err)
				}
				continue
			}
		}
		d.failing.Store(false)
		select {
		case it := <-d.q:
			if _, retry := d.write(it.a); retry {
				d.spool(it.a)
				it.done()
				if !wait() {
					return
				}
				continue
			}
			backoff = 0
			it.done()
		case <-d.stop:
			return
		}
	}
}

// Stop ends the delivery goroutine: alerts still queued in memory get one
// attempt each (or go straight to the spool while the sink is failing),
// until ctx is done, after which they are spooled. The spool is synced.
func (d *Deliverer) Stop(ctx context.Context) {
	close(d.stop)
	d.wg.Wait()
	for {
		select {
		case it := <-d.q:
			if d.failing.Load() || ctx.Err() != nil {
				d.spool(it.a)
			} else if _, retry := d.write(it.a); retry {
				d.spool(it.a)
			}
			it.done()
			continue
		default:
		}
		break
	}
	if d.opts.Spool != nil {
		if err := d.opts.Spool.Sync(); err != nil {
			d.log.Error("spool sync", "err", err)
		}
	}
}

// Sync makes the spool durable.
func (d *Deliverer) Sync() error {
	if d.opts.Spool == nil {
		return nil
	}
	return d.opts.Spool.Sync()
}

// Failing reports whether the sink is down (alerts are waiting in the
// spool).
func (d *Deliverer) Failing() bool { return d.failing.Load() }
