package source

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// LiveDecoder decodes the records of a live input (lines of a followed
// file, messages of a syslog connection, journal entries). It differs from
// TextStream in two ways that matter for a sensor that runs for months:
// records arrive a few at a time, so they are decoded on the caller's
// goroutine as they come; and year-less timestamps are dated against
// today, not against the day the sensor started, so the decoder is made
// again when the local date changes (RFC 3164 has no year, and the
// inference of decode.Options.Reference would otherwise drift).
type LiveDecoder struct {
	name   string
	format decode.Format
	opts   decode.Options
	dec    decode.Decoder
	day    int
	now    func() time.Time
	// Stats counts records, events and decode errors.
	Stats *stats.Run
	// Replayed counts records read again after a restart (not in Stats).
	Replayed *atomic.Int64
	// sniff is set while the format is still to be sniffed.
	sniff bool
}

// LiveDecoderOptions configure a LiveDecoder.
type LiveDecoderOptions struct {
	// Name names the input in error messages ("/var/log/kern.log").
	Name string
	// Format is the format; Sniff says it is to be sniffed from the first
	// records (Format is the fallback if none matches).
	Format decode.Format
	Sniff  bool
	// Decode are the decoder options; Reference is the first records'
	// reference time (a file's modification time), later today's date.
	Decode   decode.Options
	Stats    *stats.Run
	Replayed *atomic.Int64
	// Now is the wall clock (default time.Now).
	Now func() time.Time
}

// NewLiveDecoder makes a decoder for one live input.
func NewLiveDecoder(o LiveDecoderOptions) *LiveDecoder {
	d := &LiveDecoder{name: o.Name, format: o.Format, opts: o.Decode, Stats: o.Stats, Replayed: o.Replayed, now: o.Now, sniff: o.Sniff}
	if d.now == nil {
		d.now = time.Now
	}
	if d.Stats == nil {
		d.Stats = stats.New()
	}
	if d.Replayed == nil {
		d.Replayed = new(atomic.Int64)
	}
	if d.opts.Reference.IsZero() {
		d.opts.Reference = d.now()
	}
	if !d.sniff {
		d.dec = d.format.New(d.opts)
		d.day = dayOf(d.now(), d.opts.Location)
	}
	return d
}

// Format returns the format in use (after sniffing).
func (d *LiveDecoder) Format() decode.Format { return d.format }

func dayOf(t time.Time, loc *time.Location) int {
	if loc != nil {
		t = t.In(loc)
	}
	y, m, dd := t.Date()
	return y*10000 + int(m)*100 + dd
}

// refresh makes the decoder again when the local date changed, dating
// year-less stamps against today. It is called between chunks only, so a
// decoder's multi-record state is lost at most once a day.
func (d *LiveDecoder) refresh() {
	if d.dec != nil && d.format.Header {
		return // remaking it would lose the header it read
	}
	now := d.now()
	if day := dayOf(now, d.opts.Location); day != d.day {
		if d.dec != nil {
			d.opts.Reference = now
		}
		d.day = day
		d.dec = d.format.New(d.opts)
	}
}

// Prime shows the decoder the head of a file it starts reading in the
// middle of (Chunk.Head): the format is sniffed from it if it is still to
// be, and a format whose records depend on header lines decodes it, its
// events and errors discarded (they were read before, or are older than
// where reading starts), to learn the header.
func (d *LiveDecoder) Prime(head []byte) {
	if d.sniff {
		if f, ok := decode.Sniff(sampleLines(head, 32)); ok {
			d.format = f
		}
		d.sniff = false
		d.Stats.Format(d.format.Name)
	}
	if !d.format.Header {
		return
	}
	d.refresh()
	var scratch []event.Event
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 {
			scratch, _ = d.dec.Decode(line, event.Origin{}, scratch[:0])
		}
	}
	if f, ok := d.dec.(decode.Flusher); ok {
		f.Flush(scratch[:0]) // a record the head cut in two
	}
}

// DecodeLines decodes complete lines (each ending in '\n'; the first is
// line number first) and appends their events to dst. tooLong lists lines
// the reader skipped for their length. Replayed lines are counted apart
// and their errors are not counted again.
func (d *LiveDecoder) DecodeLines(data []byte, first uint64, tooLong []uint64, replay bool, dst []event.Event) []event.Event {
	if d.sniff {
		if f, ok := decode.Sniff(sampleLines(data, 32)); ok {
			d.format = f
		}
		d.sniff = false
		d.Stats.Format(d.format.Name)
	}
	d.refresh()
	var records int64
	for _, l := range tooLong {
		records++
		if !replay {
			d.Stats.DecodeError(d.locate(&decode.Error{Reason: decode.ReasonTooLong, Detail: "line longer than max_line, skipped"}, l))
		}
	}
	line := first
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		var rec []byte
		if nl < 0 {
			rec, data = data, nil
		} else {
			rec, data = data[:nl], data[nl+1:]
		}
		cur := line
		line++
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		if len(rec) == 0 {
			continue
		}
		records++
		var err error
		if bytes.IndexByte(rec, 0) >= 0 {
			err = &decode.Error{Reason: decode.ReasonBinary, Detail: "NUL byte in a text record"}
		} else {
			n := len(dst)
			dst, err = d.dec.Decode(rec, event.Origin{Input: d.opts.Input, Index: cur}, dst)
			if !replay {
				d.Stats.Events.Add(int64(len(dst) - n))
			}
		}
		if err != nil && !replay {
			d.Stats.DecodeError(d.locate(err, cur))
		}
	}
	if replay {
		d.Replayed.Add(records)
	} else {
		d.Stats.Records.Add(records)
	}
	return dst
}

// DecodeRecord decodes one record (a syslog message without its framing)
// numbered index.
func (d *LiveDecoder) DecodeRecord(rec []byte, index uint64, dst []event.Event) []event.Event {
	if d.sniff {
		if f, ok := decode.Sniff([][]byte{rec}); ok {
			d.format = f
		}
		d.sniff = false
	}
	if d.dec == nil {
		d.refresh()
	}
	d.Stats.Records.Add(1)
	n := len(dst)
	dst, err := d.dec.Decode(rec, event.Origin{Input: d.opts.Input, Index: index}, dst)
	d.Stats.Events.Add(int64(len(dst) - n))
	if err != nil {
		d.Stats.DecodeError(d.locate(err, index))
	}
	return dst
}

// Refresh is DecodeRecord's daily check, for callers that decode single
// records: call it between batches.
func (d *LiveDecoder) Refresh() {
	if !d.sniff {
		d.refresh()
	}
}

// Flush hands over what a decoder holds back (multi-record joins).
func (d *LiveDecoder) Flush(dst []event.Event) []event.Event {
	if f, ok := d.dec.(decode.Flusher); ok {
		n := len(dst)
		dst = f.Flush(dst)
		d.Stats.Events.Add(int64(len(dst) - n))
	}
	return dst
}

// Error counts a record the reader rejected before decoding (a frame too
// long, binary data) as a located decode error.
func (d *LiveDecoder) Error(reason decode.Reason, index uint64, detail string) {
	d.Stats.Records.Add(1)
	d.Stats.DecodeError(d.locate(&decode.Error{Reason: reason, Detail: detail}, index))
}

func (d *LiveDecoder) locate(err error, index uint64) error {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Reason: decode.ReasonMalformed, Detail: err.Error()}
	}
	de.Input = d.name
	de.Index = index
	de.Format = d.format.Name
	return de
}

// Emitter receives a live input's batches: the sensor hands each one to
// its engine lane. Emit takes ownership of b (even on error).
type Emitter interface {
	Emit(ctx context.Context, b *Batch, mark any, caughtUp bool) error
	Close()
}

// LaneOpener opens an Emitter per ordered flow of records (one per TCP
// connection of a listener).
type LaneOpener func(name string) Emitter
