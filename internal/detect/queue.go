package detect

// deadlineItem asks for a source's slot to be looked at when event time
// reaches deadline. gen tells a stale item (the slot was reused) apart.
type deadlineItem struct {
	deadline int64
	slot     int32
	gen      uint32
}

// deadlineQueue is a binary min-heap of deadlines. container/heap would box
// every item into an interface on Push; this one allocates only when it
// grows. A source has at most one item queued, so its size is bounded by the
// state table's.
type deadlineQueue struct{ items []deadlineItem }

func (q *deadlineQueue) Len() int { return len(q.items) }

func (q *deadlineQueue) Peek() deadlineItem { return q.items[0] }

func (q *deadlineQueue) Push(it deadlineItem) {
	q.items = append(q.items, it)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q.items[p].deadline <= q.items[i].deadline {
			break
		}
		q.items[p], q.items[i] = q.items[i], q.items[p]
		i = p
	}
}

func (q *deadlineQueue) Pop() deadlineItem {
	top := q.items[0]
	n := len(q.items) - 1
	q.items[0] = q.items[n]
	q.items = q.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.items[l].deadline < q.items[m].deadline {
			m = l
		}
		if r < n && q.items[r].deadline < q.items[m].deadline {
			m = r
		}
		if m == i {
			break
		}
		q.items[m], q.items[i] = q.items[i], q.items[m]
		i = m
	}
	return top
}
