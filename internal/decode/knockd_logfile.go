package decode

import (
	"github.com/knockwatch/knockwatch/internal/event"
)

// knockdLogFormat reads the file knockd writes itself when its config has
// "LogFile = path" (or knockd -g): "[YYYY-MM-DD HH:MM] message", local time
// to the minute (formats.md 1.1). Messages that end in "\n" in knockd's
// source are followed by a blank line, which is skipped. With minute
// precision a knock's lines share one timestamp, so they keep the order of
// the file (the stream is decoded in order) and carry event.FlagCoarseTime.
var knockdLogFormat = Format{
	Name:     "knockd-log",
	Summary:  "knockd's own LogFile ([YYYY-MM-DD HH:MM] message; local time, minute precision)",
	Sniff:    sniffKnockdLog,
	New:      func(o Options) Decoder { return &knockdLogDecoder{clk: newClock(o)} },
	Parallel: true,
}

var _ Decoder = (*knockdLogDecoder)(nil)

type knockdLogDecoder struct {
	clk     clock
	h       syslogLine
	daemons daemonState
}

func sniffKnockdLog(line []byte) int {
	if _, _, _, _, _, ok := parseKnockdStamp(line); !ok {
		return 0
	}
	if _, ok := knockdKind(trimDaemonMsg(line[19:])); ok {
		return 12
	}
	return 4
}

// parseKnockdStamp reads "[YYYY-MM-DD HH:MM] ".
func parseKnockdStamp(b []byte) (y, mo, d, hh, mi int, ok bool) {
	if len(b) < 19 || b[0] != '[' || b[5] != '-' || b[8] != '-' || b[11] != ' ' || b[14] != ':' || b[17] != ']' || b[18] != ' ' {
		return 0, 0, 0, 0, 0, false
	}
	var ok1, ok2, ok3, ok4, ok5 bool
	y, ok1 = atoi4(b[1:])
	mo, ok2 = atoi2(b[6:])
	d, ok3 = atoi2(b[9:])
	hh, ok4 = atoi2(b[12:])
	mi, ok5 = atoi2(b[15:])
	// Years outside 1970..2200 do not fit Unix nanoseconds (or are not
	// a knockd's).
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 {
		return 0, 0, 0, 0, 0, false
	}
	return y, mo, d, hh, mi, true
}

// Decode decodes one LogFile line.
func (k *knockdLogDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	blank := true
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			blank = false
			break
		}
	}
	if blank {
		return dst, nil
	}
	y, mo, d, hh, mi, ok := parseKnockdStamp(line)
	if !ok {
		return dst, errorf(ReasonBadTime, "", 1, `no "[YYYY-MM-DD HH:MM] " stamp`)
	}
	h := &k.h
	*h = syslogLine{pri: -1, time: k.clk.local(y, mo, d, hh, mi, 0, 0), hasTime: true, msg: line[19:]}
	if _, known := knockdKind(trimDaemonMsg(h.msg)); !known {
		// The LogFile holds only knockd's logprint() messages (K1–K18).
		return dst, errorf(ReasonMalformed, "", 20, "not a knockd message")
	}
	n := len(dst)
	dst, err := decodeKnockdMsg(&k.daemons, line, h, origin, dst)
	for i := n; i < len(dst); i++ {
		dst[i].Flags |= event.FlagCoarseTime
	}
	return dst, err
}
