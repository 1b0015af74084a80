// Package stats counts what a run did: bytes and records read, events
// decoded, decode errors by reason (with the first few locations), inputs
// skipped. Counters are atomic so every stage can add to them without locks
// on the hot path; the hunt summary and the Prometheus collector read them.
package stats

import (
	"sync"
	"sync/atomic"

	"github.com/knockwatch/knockwatch/internal/decode"
)

// MaxErrorSamples is how many decode errors are kept verbatim.
const MaxErrorSamples = 10

// Run holds the counters of one run.
type Run struct {
	Bytes   atomic.Int64
	Records atomic.Int64
	Events  atomic.Int64
	Late    atomic.Int64

	errors [32]atomic.Int64 // by decode.Reason

	mu      sync.Mutex
	samples []string
	skipped []string
	formats map[string]int64
}

// New makes an empty Run.
func New() *Run { return &Run{formats: map[string]int64{}} }

// DecodeError counts a decode error and keeps its text if it is among the
// first few.
func (r *Run) DecodeError(err error) {
	reason := decode.ReasonMalformed
	if de, ok := err.(*decode.Error); ok && int(de.Reason) < len(r.errors) {
		reason = de.Reason
	}
	r.errors[reason].Add(1)
	r.mu.Lock()
	if len(r.samples) < MaxErrorSamples {
		r.samples = append(r.samples, err.Error())
	}
	r.mu.Unlock()
}

// Errors returns the count of decode errors by reason name.
func (r *Run) Errors() map[string]int64 {
	out := map[string]int64{}
	for _, reason := range decode.Reasons() {
		if n := r.errors[reason].Load(); n > 0 {
			out[reason.String()] = n
		}
	}
	return out
}

// ErrorCount returns the count for one reason.
func (r *Run) ErrorCount(reason decode.Reason) int64 { return r.errors[reason].Load() }

// TotalErrors sums all decode errors.
func (r *Run) TotalErrors() int64 {
	var n int64
	for i := range r.errors {
		n += r.errors[i].Load()
	}
	return n
}

// ErrorSamples returns the first few decode errors, located.
func (r *Run) ErrorSamples() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.samples...)
}

// Skip records an input that was not read, with why.
func (r *Run) Skip(why string) {
	r.mu.Lock()
	r.skipped = append(r.skipped, why)
	r.mu.Unlock()
}

// Skipped lists inputs that were not read.
func (r *Run) Skipped() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.skipped...)
}

// Format counts an input read as format.
func (r *Run) Format(name string) {
	r.mu.Lock()
	r.formats[name]++
	r.mu.Unlock()
}

// Formats returns how many inputs were read per format.
func (r *Run) Formats() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.formats))
	for k, v := range r.formats {
		out[k] = v
	}
	return out
}
