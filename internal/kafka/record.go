package kafka

import (
	"bytes"
	"errors"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
)

// decodeRecordLines decodes the lines of a record's value: a record is
// usually one line, but a collector may batch several or end one with a
// newline (or CRLF). A line holding a NUL byte is binary data, refused
// before the decoder sees it. onErr receives each line's error; dst is
// returned with the events of the good lines.
func decodeRecordLines(dec decode.Decoder, value []byte, origin event.Origin, dst []event.Event, onErr func(error)) []event.Event {
	for len(value) > 0 {
		line := value
		if i := bytes.IndexByte(value, '\n'); i >= 0 {
			line, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		var err error
		if bytes.IndexByte(line, 0) >= 0 {
			err = &decode.Error{Reason: decode.ReasonBinary, Detail: "NUL byte in a text record"}
		} else {
			dst, err = dec.Decode(line, origin, dst)
		}
		if err != nil {
			onErr(err)
		}
	}
	return dst
}

// locateError makes err a decode error that names the input (a topic
// partition), the record offset and the format.
func locateError(err error, input string, offset int64, format string) *decode.Error {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Reason: decode.ReasonMalformed, Detail: err.Error()}
	}
	de.Input = input
	de.Index = uint64(offset)
	de.Format = format
	return de
}
