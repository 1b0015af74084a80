package decode

import (
	"fmt"
)

// Reason is the fixed set of reasons a record can fail to decode. It is the
// label of the decode-error metric, so it must stay a small closed set.
type Reason uint8

// Decode-error reasons.
const (
	ReasonMalformed Reason = iota + 1
	ReasonTruncated
	ReasonTooLong
	ReasonBinary
	ReasonBadTime
	ReasonBadAddr
	ReasonBadPort
	ReasonBadProto
	ReasonBadField
	ReasonMissingField
	ReasonBadEncoding
	ReasonBadHeader
	reasonCount
)

var reasonNames = [reasonCount]string{
	"",
	"malformed",
	"truncated",
	"too_long",
	"binary",
	"bad_time",
	"bad_address",
	"bad_port",
	"bad_protocol",
	"bad_field",
	"missing_field",
	"bad_encoding",
	"bad_header",
}

func (r Reason) String() string {
	if r > 0 && r < reasonCount {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every reason, for metrics that pre-create their children.
func Reasons() []Reason {
	out := make([]Reason, 0, reasonCount-1)
	for r := Reason(1); r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// Error is a record that could not be decoded. Decoders return it without
// location; the reader that owns the record fills in Input and Index, so the
// error names the file and line (or frame) it came from.
type Error struct {
	Reason Reason
	// Field names the field at fault, if any ("SRC", "dpt", "ts").
	Field string
	// Column is the 1-based byte column of the fault within the record, 0 if
	// unknown.
	Column int
	// Detail is a short human explanation.
	Detail string

	Format string
	Input  string
	Index  uint64
	// Frame is true when Index counts packets rather than lines.
	Frame bool
}

func (e *Error) Error() string {
	loc := e.Input
	if loc == "" {
		loc = "<input>"
	}
	if e.Index > 0 {
		if e.Frame {
			loc = fmt.Sprintf("%s#%d", loc, e.Index)
		} else {
			loc = fmt.Sprintf("%s:%d", loc, e.Index)
		}
		if e.Column > 0 && !e.Frame {
			loc = fmt.Sprintf("%s:%d", loc, e.Column)
		}
	}
	what := e.Reason.String()
	if e.Field != "" {
		what += " " + e.Field
	}
	if e.Detail != "" {
		what += ": " + e.Detail
	}
	if e.Format != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Format, what)
	}
	return fmt.Sprintf("%s: %s", loc, what)
}

// errorf builds an Error; column is 1-based, 0 when unknown.
func errorf(r Reason, field string, column int, detail string) *Error {
	return &Error{Reason: r, Field: field, Column: column, Detail: detail}
}
