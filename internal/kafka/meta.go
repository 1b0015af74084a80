package kafka

import (
	"math"
	"strconv"
	"strings"
)

// commitMeta travels with each committed offset, in the offset commit's
// metadata string, from a partition's owner to the next one:
//
//   - Resume: the offset after the last record read whose alerts were all
//     handed to the sinks. The next owner reads the records before it
//     again only to rebuild detector state: they count as replayed, not as
//     records in, and the alerts they yield are not sent again.
//   - Watermark: the detectors' event time when those alerts were out. The
//     next owner's replay position never goes back before what it implies.
//
// The committed offset itself is the replay position, far enough back for
// the detectors to rebuild their state (see doc.go).
type commitMeta struct {
	Watermark int64
	Resume    int64
}

// noMeta is the seed of a partition without (readable) metadata: nothing
// is taken as already sent.
var noMeta = commitMeta{Watermark: math.MinInt64, Resume: -1}

const metaPrefix = "knockwatch/1 "

// String renders the metadata: "knockwatch/1 t=<watermark, unix ns>
// r=<offset>".
func (m commitMeta) String() string {
	b := make([]byte, 0, 48)
	b = append(b, metaPrefix...)
	b = append(b, "t="...)
	b = strconv.AppendInt(b, m.Watermark, 10)
	b = append(b, " r="...)
	b = strconv.AppendInt(b, m.Resume, 10)
	return string(b)
}

// parseMeta reads a metadata string written by String. Anything else (a
// commit by another tool, a newer version, garbage) is not ours: ok is
// false and the partition is replayed without suppression, which can only
// send an alert twice, never lose one.
func parseMeta(s string) (commitMeta, bool) {
	rest, ok := strings.CutPrefix(s, metaPrefix)
	if !ok {
		return noMeta, false
	}
	t, r, ok := strings.Cut(rest, " ")
	if !ok {
		return noMeta, false
	}
	tv, ok1 := strings.CutPrefix(t, "t=")
	rv, ok2 := strings.CutPrefix(r, "r=")
	if !ok1 || !ok2 {
		return noMeta, false
	}
	ts, err := strconv.ParseInt(tv, 10, 64)
	if err != nil {
		return noMeta, false
	}
	res, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || res < -1 {
		return noMeta, false
	}
	return commitMeta{Watermark: ts, Resume: res}, true
}
