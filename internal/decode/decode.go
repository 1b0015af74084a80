// Package decode turns raw records (log lines) into normalized events.
//
// One file per format, each with its own testdata/<format>/ folder, table
// tests, a fuzz target and a benchmark. Every format is listed once, in
// registry.go. Decoders work on []byte, append to a caller-owned slice and do
// not allocate per record on the hot path; a record they cannot decode becomes
// an *Error with a Reason, and decoding goes on with the next record.
//
// Adding a format:
//  1. write <format>.go with a type implementing Decoder and a
//     `var _ Decoder = (*xDecoder)(nil)` assertion;
//  2. add one entry to the formats slice in registry.go;
//  3. add testdata/<format>/ with samples and a README.md saying how each was
//     made;
//  4. add <format>_test.go with a table test, FuzzX and BenchmarkX, where X
//     is the format's name without its dashes, in any case ("zeek-conn-tsv":
//     FuzzZeekConnTSV; a benchmark may add a suffix, BenchmarkSyslogNetfilter).
//     TestRegistryComplete checks that every registered format has the
//     testdata folder with a README.md and a sample, the fuzz target and the
//     benchmark, by reading the package's _test.go files with go/parser.
package decode

import (
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Decoder decodes the records of one stream. Decoders may keep state between
// records of the same stream (a header line, a time anchor), so a stream gets
// its own decoder and a decoder is not safe for concurrent use.
type Decoder interface {
	// Decode decodes one record (a line without its line ending) and appends
	// the events it yields to dst. A record that is well formed but carries
	// nothing a detector wants (an sshd line in kern.log) yields no events
	// and no error. The returned error, if any, is an *Error.
	Decode(rec []byte, origin event.Origin, dst []event.Event) ([]event.Event, error)
}

// Flusher is implemented by decoders that hold records back (joining
// multi-record events) and must hand them over at the end of the stream.
type Flusher interface {
	Flush(dst []event.Event) []event.Event
}

// Options are what a decoder needs to know about its stream.
type Options struct {
	// Input is the origin input id stamped on every event.
	Input uint32
	// Year is used for year-less timestamps (RFC 3164). 0 means: infer it
	// from Reference.
	Year int
	// Reference is the time the stream was last written (a file's
	// modification time; now for stdin). Year-less timestamps take the year
	// that puts them at or before Reference.
	Reference time.Time
	// Location is the time zone of timestamps that carry none. nil means
	// time.Local.
	Location *time.Location
	// BootTime anchors uptime-only kernel timestamps (dmesg). Zero leaves
	// them relative to boot, flagged event.FlagRelativeTime.
	BootTime time.Time
}

func (o Options) location() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}
