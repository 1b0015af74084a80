package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Batch is a run of events from one input, in input order.
type Batch struct {
	Events []event.Event
}

var batchPool = sync.Pool{New: func() any { return &Batch{Events: make([]event.Event, 0, 1024)} }}

// NewBatch takes an empty batch from the pool.
func NewBatch() *Batch { return batchPool.Get().(*Batch) }

// Release returns a batch to the pool. The caller must not use it after.
func (b *Batch) Release() {
	clear(b.Events) // drop payload references
	b.Events = b.Events[:0]
	batchPool.Put(b)
}

// Stream is a source of event batches in (nearly) time order.
type Stream interface {
	// Name says what the stream reads, for messages.
	Name() string
	// Next returns the next batch, or io.EOF at the end.
	Next() (*Batch, error)
	// Lateness is how far out of time order the stream's events may be.
	Lateness() time.Duration
}

const (
	chunkSize = 1 << 20
	// DefaultMaxLine is the longest record read; longer lines are counted
	// as errors and skipped, never split.
	DefaultMaxLine = 256 << 10
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+DefaultMaxLine); return &b }}

type chunk struct {
	seq       uint64
	firstLine uint64
	data      *[]byte
	// tooLong lists lines longer than a chunk, which the reader skipped.
	tooLong []uint64
}

type chunkResult struct {
	seq    uint64
	batch  *Batch
	errs   []error
	chunkN int64
}

// TextOptions configure a TextStream.
type TextOptions struct {
	Name    string
	Format  decode.Format
	Decode  decode.Options
	Workers int
	MaxLine int
	Stats   *stats.Run
}

// TextStream decodes a line-oriented input. A reader goroutine cuts the
// input into chunks at line ends; formats whose lines decode independently
// are decoded by several workers at once and put back in order, so one large
// file uses every core.
type TextStream struct {
	opts    TextOptions
	results chan chunkResult
	pending map[uint64]chunkResult
	next    uint64
	done    chan struct{}
	readErr error
	reorder reorderBuffer
	eof     bool
}

// NewTextStream starts decoding r. Cancel ctx to stop early.
func NewTextStream(ctx context.Context, r io.Reader, opts TextOptions) *TextStream {
	if opts.Workers < 1 || !opts.Format.Parallel {
		opts.Workers = 1
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	s := &TextStream{
		opts:    opts,
		results: make(chan chunkResult, opts.Workers*2),
		pending: map[uint64]chunkResult{},
		done:    make(chan struct{}),
		reorder: reorderBuffer{lateness: int64(opts.Format.Lateness)},
	}
	chunks := make(chan chunk, opts.Workers*2)
	go func() {
		defer close(chunks)
		s.readErr = readChunks(ctx, r, chunks, opts.MaxLine)
	}()
	var wg sync.WaitGroup
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := opts.Format.New(opts.Decode)
			for c := range chunks {
				res := s.decodeChunk(dec, c)
				select {
				case s.results <- res:
				case <-ctx.Done():
					res.batch.Release()
					return
				}
			}
			if f, ok := dec.(decode.Flusher); ok {
				b := NewBatch()
				b.Events = f.Flush(b.Events)
				select {
				case s.results <- chunkResult{seq: ^uint64(0), batch: b}:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(s.results)
	}()
	return s
}

// Name returns the input's name.
func (s *TextStream) Name() string { return s.opts.Name }

// Lateness is the format's allowed lateness.
func (s *TextStream) Lateness() time.Duration { return s.opts.Format.Lateness }

// Next returns the next batch in input order.
func (s *TextStream) Next() (*Batch, error) {
	for {
		if b := s.reorder.pop(s.eof); b != nil {
			return b, nil
		}
		if s.eof {
			if s.readErr != nil && !errors.Is(s.readErr, context.Canceled) {
				return nil, fmt.Errorf("%s: %w", s.opts.Name, s.readErr)
			}
			return nil, io.EOF
		}
		res, ok := s.pending[s.next]
		if ok {
			delete(s.pending, s.next)
			s.next++
			s.account(res)
			s.reorder.push(res.batch)
			continue
		}
		r, open := <-s.results
		if !open {
			// Flushed events (seq max) are last.
			if fl, ok := s.pending[^uint64(0)]; ok {
				delete(s.pending, ^uint64(0))
				s.account(fl)
				s.reorder.push(fl.batch)
			}
			s.eof = true
			continue
		}
		s.pending[r.seq] = r
	}
}

func (s *TextStream) account(r chunkResult) {
	st := s.opts.Stats
	if st == nil {
		return
	}
	for _, err := range r.errs {
		st.DecodeError(err)
	}
	st.Events.Add(int64(len(r.batch.Events)))
}

func (s *TextStream) decodeChunk(dec decode.Decoder, c chunk) chunkResult {
	res := chunkResult{seq: c.seq, batch: NewBatch()}
	data := *c.data
	line := c.firstLine
	var records int64
	// Lines longer than a chunk come before the chunk's first line.
	for _, l := range c.tooLong {
		res.errs = append(res.errs, s.locate(&decode.Error{Reason: decode.ReasonTooLong, Detail: "line longer than the read buffer, skipped"}, l))
		records++
	}
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		var rec []byte
		if nl < 0 {
			rec, data = data, nil
		} else {
			rec, data = data[:nl], data[nl+1:]
		}
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		cur := line
		line++
		if len(rec) == 0 {
			continue
		}
		records++
		if len(rec) > s.opts.MaxLine {
			res.errs = append(res.errs, s.locate(&decode.Error{Reason: decode.ReasonTooLong, Detail: fmt.Sprintf("%d bytes, more than %d", len(rec), s.opts.MaxLine)}, cur))
			continue
		}
		if bytes.IndexByte(rec, 0) >= 0 {
			res.errs = append(res.errs, s.locate(&decode.Error{Reason: decode.ReasonBinary, Detail: "NUL byte in a text record"}, cur))
			continue
		}
		var err error
		res.batch.Events, err = dec.Decode(rec, event.Origin{Input: s.opts.Decode.Input, Index: cur}, res.batch.Events)
		if err != nil {
			res.errs = append(res.errs, s.locate(err, cur))
		}
	}
	if s.opts.Stats != nil {
		s.opts.Stats.Records.Add(records)
	}
	res.chunkN = int64(len(*c.data))
	*c.data = (*c.data)[:0]
	chunkPool.Put(c.data)
	return res
}

func (s *TextStream) locate(err error, line uint64) error {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Reason: decode.ReasonMalformed, Detail: err.Error()}
	}
	de.Input = s.opts.Name
	de.Index = line
	de.Format = s.opts.Format.Name
	return de
}

// readChunks cuts r into chunks that end at a line end. A line longer than
// the buffer is skipped up to its newline and listed in the chunk that
// follows, so it is reported with its number.
func readChunks(ctx context.Context, r io.Reader, out chan<- chunk, maxLine int) error {
	var (
		seq      uint64
		line     uint64 = 1
		carry    []byte
		skipping bool
		tooLong  []uint64
	)
	for {
		bp := chunkPool.Get().(*[]byte)
		buf := append((*bp)[:0], carry...)
		carry = carry[:0]
		n, err := io.ReadFull(r, buf[len(buf):chunkSize])
		buf = buf[:len(buf)+n]
		final := err != nil
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil
		}
		if skipping {
			nl := bytes.IndexByte(buf, '\n')
			if nl < 0 {
				*bp = buf[:0]
				chunkPool.Put(bp)
				if final {
					return err
				}
				continue
			}
			buf = append(buf[:0], buf[nl+1:]...)
			skipping = false
			line++
		}
		end := len(buf)
		if !final {
			nl := bytes.LastIndexByte(buf, '\n')
			if nl < 0 {
				if len(buf) >= chunkSize {
					// A line longer than a whole chunk: skip to its end.
					tooLong = append(tooLong, line)
					skipping = true
					*bp = buf[:0]
					chunkPool.Put(bp)
					continue
				}
				nl = -1
			}
			end = nl + 1
			carry = append(carry, buf[end:]...)
		}
		data := buf[:end]
		*bp = data
		c := chunk{seq: seq, firstLine: line, data: bp, tooLong: tooLong}
		tooLong = nil
		line += uint64(bytes.Count(data, []byte{'\n'}))
		seq++
		select {
		case out <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		if final {
			return err
		}
	}
}

// reorderBuffer puts the events of a stream whose records come out of time
// order (Zeek writes a connection when it ends) back in order, holding each
// event until the stream has moved lateness past it.
type reorderBuffer struct {
	lateness int64
	held     []event.Event
	maxTime  int64
	ready    []*Batch
}

func (r *reorderBuffer) push(b *Batch) {
	if r.lateness <= 0 {
		r.ready = append(r.ready, b)
		return
	}
	if len(b.Events) == 0 {
		b.Release()
		return
	}
	for i := range b.Events {
		r.maxTime = max(r.maxTime, b.Events[i].Time)
	}
	// Sort only the new batch, then merge it into what is held (already
	// sorted): the held window can be large (minutes of Zeek records), and
	// re-sorting it for every batch would be quadratic.
	byTime := func(x, y event.Event) int {
		switch {
		case x.Time < y.Time:
			return -1
		case x.Time > y.Time:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(b.Events, byTime)
	if len(r.held) == 0 || r.held[len(r.held)-1].Time <= b.Events[0].Time {
		r.held = append(r.held, b.Events...)
	} else {
		merged := make([]event.Event, 0, len(r.held)+len(b.Events))
		i, j := 0, 0
		for i < len(r.held) && j < len(b.Events) {
			if b.Events[j].Time < r.held[i].Time {
				merged = append(merged, b.Events[j])
				j++
			} else {
				merged = append(merged, r.held[i])
				i++
			}
		}
		merged = append(merged, r.held[i:]...)
		merged = append(merged, b.Events[j:]...)
		r.held = merged
	}
	b.Release()
	cut := 0
	for cut < len(r.held) && r.held[cut].Time <= r.maxTime-r.lateness {
		cut++
	}
	if cut > 0 {
		out := NewBatch()
		out.Events = append(out.Events, r.held[:cut]...)
		r.held = append(r.held[:0], r.held[cut:]...)
		r.ready = append(r.ready, out)
	}
}

func (r *reorderBuffer) pop(eof bool) *Batch {
	if len(r.ready) > 0 {
		b := r.ready[0]
		r.ready = r.ready[1:]
		return b
	}
	if eof && len(r.held) > 0 {
		out := NewBatch()
		out.Events = append(out.Events, r.held...)
		r.held = r.held[:0]
		return out
	}
	return nil
}
