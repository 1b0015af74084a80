package kafka

import "math"

// offsetTracker keeps a partition's candidate replay positions: offsets
// after records whose events were all routed and whose alerts were all
// handed to the sinks, each with the newest event time before it. The
// replay position is the newest candidate before which every event is
// older than a cut (see advance).
type offsetTracker struct {
	// marks[0] is the replay position.
	marks []offMark
}

type offMark struct {
	off     int64
	maxTime int64
}

// maxMarks bounds the tracker. Marks are thinned to one per second of
// event time, so this is over an hour of event time beyond the cut; when
// delivery is stuck, every other mark is dropped, which only makes the
// replay position earlier.
const maxMarks = 4096

// seed sets the first replay position: the offset the partition was
// started from. Its time is unknown, so it stays the replay position until
// a later mark is older than the cut.
func (t *offsetTracker) seed(off int64) {
	t.marks = append(t.marks[:0], offMark{off: off, maxTime: math.MinInt64})
}

// add records a position whose records were processed and delivered.
func (t *offsetTracker) add(off, maxTime int64) {
	n := len(t.marks)
	if n > 0 && off <= t.marks[n-1].off {
		return
	}
	if n >= 2 && t.marks[n-2].maxTime != math.MinInt64 && maxTime-t.marks[n-2].maxTime < 1e9 {
		// Within a second of the one before the last: replace the last.
		// (Not after the seed, whose time is unknown: the difference would
		// overflow and the seed's successor would be replaced forever.)
		t.marks[n-1] = offMark{off, maxTime}
		return
	}
	if n >= maxMarks {
		k := 1
		for i := 1; i < n; i += 2 {
			t.marks[k] = t.marks[i]
			k++
		}
		clear(t.marks[k:])
		t.marks = t.marks[:k]
	}
	t.marks = append(t.marks, offMark{off, maxTime})
}

// advance drops marks no longer needed: afterwards every event before
// marks[0] is older than cut.
func (t *offsetTracker) advance(cut int64) {
	i := 0
	for i+1 < len(t.marks) && t.marks[i+1].maxTime < cut {
		i++
	}
	if i > 0 {
		t.marks = append(t.marks[:0], t.marks[i:]...)
	}
}

// replay returns the replay position.
func (t *offsetTracker) replay() (int64, bool) {
	if len(t.marks) == 0 {
		return 0, false
	}
	return t.marks[0].off, true
}
