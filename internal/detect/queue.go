package detect

// deadlineItem asks for a source's slot to be looked at when event time
// reaches deadline. gen tells a stale item (the slot was reused) apart.
type deadlineItem struct {
	deadline int64
	slot     int32
	gen      uint32
}

// deadlineQueue is a 4-ary min-heap of deadlines. container/heap would box
// every item into an interface on Push; this one allocates only when it
// grows. Four children per node halve the depth of a binary heap, and
// siblings share a cache line, which matters here: a busy shard pops a
// deadline every few events. A source has at most one item queued, so its
// size is bounded by the state table's.
type deadlineQueue struct{ items []deadlineItem }

func (q *deadlineQueue) Len() int { return len(q.items) }

func (q *deadlineQueue) Peek() deadlineItem { return q.items[0] }

func (q *deadlineQueue) Push(it deadlineItem) {
	q.items = append(q.items, it)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 4
		if q.items[p].deadline <= it.deadline {
			break
		}
		q.items[i] = q.items[p]
		i = p
	}
	q.items[i] = it
}

func (q *deadlineQueue) Pop() deadlineItem {
	top := q.items[0]
	n := len(q.items) - 1
	last := q.items[n]
	q.items = q.items[:n]
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q.items[k].deadline < q.items[m].deadline {
				m = k
			}
		}
		if q.items[m].deadline >= last.deadline {
			break
		}
		q.items[i] = q.items[m]
		i = m
	}
	q.items[i] = last
	return top
}
