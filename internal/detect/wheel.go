package detect

// wheelTickShift sets the wheel's bucket width: 2^24 ns, about 16.8 ms.
const wheelTickShift = 24

// deadlineWheel is a timing wheel: a ring of buckets, each holding the items
// whose deadline falls in one tick. The sequence detector queues a deadline
// for every burst and a busy shard has one falling due every few events; a
// heap pays a dozen comparisons and cache misses for each, a bucket append
// and a bucket sweep pay almost nothing. The price is resolution: a bucket
// is handled once event time has passed its end, so a burst is judged up to
// one tick (17 ms) after its deadline, always the same way for the same
// events. Deadlines lie at most max_gap ahead of event time, so a ring a
// little longer than that holds them; one further out (a clock jump in the
// input) waits in far until the ring reaches it. A source has at most one
// item queued, so the wheel holds at most as many items as the state table.
type deadlineWheel struct {
	buckets [][]deadlineItem
	cur     int64 // absolute number of the first bucket not yet handled
	started bool
	n       int
	far     []deadlineItem
	due     []deadlineItem
}

func newDeadlineWheel(horizon int64) *deadlineWheel {
	return &deadlineWheel{buckets: make([][]deadlineItem, int(horizon>>wheelTickShift)+2)}
}

// Len is the number of items queued.
func (w *deadlineWheel) Len() int { return w.n }

// Push queues an item at event time now.
func (w *deadlineWheel) Push(it deadlineItem, now int64) {
	b := it.deadline >> wheelTickShift
	if !w.started {
		w.cur, w.started = now>>wheelTickShift, true
	}
	b = max(b, w.cur)
	w.n++
	if b-w.cur >= int64(len(w.buckets)) {
		w.far = append(w.far, it)
		return
	}
	k := int(b % int64(len(w.buckets)))
	w.buckets[k] = append(w.buckets[k], it)
}

// Behind reports whether event time now has left buckets behind that are
// not handled yet: the cheap check made on every event.
func (w *deadlineWheel) Behind(now int64) bool {
	return w.n > 0 && now>>wheelTickShift > w.cur
}

// Due takes the items of every bucket that ended at or before now, in
// bucket order (push order within a bucket). The slice is valid until the
// next call.
func (w *deadlineWheel) Due(now int64) []deadlineItem {
	w.due = w.due[:0]
	end := now >> wheelTickShift // buckets before end are over
	laps := int64(len(w.buckets))
	for w.n > 0 && w.cur < end {
		if w.n == len(w.far) {
			// The ring is empty: jump to the earliest far item (or to now)
			// and bring in what fits.
			next := end
			for _, it := range w.far {
				next = min(next, it.deadline>>wheelTickShift)
			}
			w.cur = max(w.cur, next)
			w.refill()
			continue
		}
		if end-w.cur > laps {
			// A long jump in event time: every bucket is over, and one lap
			// visits each of them.
			w.cur = end - laps
		}
		k := int(w.cur % laps)
		if b := w.buckets[k]; len(b) > 0 {
			w.due = append(w.due, b...)
			w.n -= len(b)
			clear(b)
			w.buckets[k] = b[:0]
		}
		w.cur++
		if k == 0 && len(w.far) > 0 {
			w.refill() // once a lap, far items may have come into range
		}
	}
	if w.cur < end && w.n == 0 {
		w.cur = end
	}
	return w.due
}

// refill moves far items that now fit the ring into their buckets; those
// whose bucket is already over are due now.
func (w *deadlineWheel) refill() {
	far := w.far
	w.far = nil
	w.n -= len(far)
	for _, it := range far {
		if it.deadline>>wheelTickShift < w.cur {
			w.due = append(w.due, it)
			continue
		}
		w.Push(it, w.cur<<wheelTickShift)
	}
}
