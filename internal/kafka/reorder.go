package kafka

import (
	"github.com/knockwatch/knockwatch/internal/event"
)

// reorder puts one partition's events back in time order within the
// lateness. A keyed topic is written by several producers (routers,
// collectors) whose records interleave with small delays, so a partition
// is nearly, not exactly, in time order; the detectors want time order.
// Events are held until the partition's newest event is the lateness past
// them (bound), then released oldest first. An event already older than
// the bound is late: it is released at once, out of order, and counted.
//
// Events are kept sorted in a slice used as a deque: nearly sorted input
// appends at the tail, a slightly late event moves the few newer ones up
// by one, and release takes from the head. (A heap would make every
// release cost a log-depth sift of 150-byte values.)
type reorder struct {
	q     []event.Event
	head  int
	bound int64
	max   int
	// late and forced count events released out of order: older than the
	// bound on arrival, or pushed out because max events were held.
	late, forced int64
}

func newReorder(max int) *reorder {
	return &reorder{bound: minTime, max: max}
}

const minTime = -1 << 63

func (r *reorder) len() int { return len(r.q) - r.head }

// add takes one event; a late one is appended to out at once.
func (r *reorder) add(ev *event.Event, out []event.Event) []event.Event {
	if ev.Time <= r.bound {
		r.late++
		return append(out, *ev)
	}
	n := len(r.q)
	i := n
	for i > r.head && r.q[i-1].Time > ev.Time {
		i--
	}
	r.q = append(r.q, event.Event{})
	if i < n {
		copy(r.q[i+1:], r.q[i:n])
	}
	r.q[i] = *ev
	return out
}

// release appends to out, in time order, every held event at or before
// bound, and the oldest ones beyond max held.
func (r *reorder) release(bound int64, out []event.Event) []event.Event {
	if bound > r.bound {
		r.bound = bound
	}
	for r.head < len(r.q) && (r.q[r.head].Time <= r.bound || len(r.q)-r.head > r.max) {
		if r.q[r.head].Time > r.bound {
			r.forced++
			r.bound = r.q[r.head].Time
		}
		out = append(out, r.q[r.head])
		r.q[r.head] = event.Event{}
		r.head++
	}
	if r.head == len(r.q) {
		r.q = r.q[:0]
		r.head = 0
	} else if r.head > 4096 && r.head > len(r.q)/2 {
		n := copy(r.q, r.q[r.head:])
		clear(r.q[n:])
		r.q = r.q[:n]
		r.head = 0
	}
	return out
}
