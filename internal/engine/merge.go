package engine

import (
	"container/heap"
	"errors"
	"io"

	"github.com/knockwatch/knockwatch/internal/source"
)

// merger interleaves the batches of several streams into one stream in time
// order (a k-way merge on the streams' head events). Each stream is already
// in time order, or put back in order by its own reorder buffer.
type merger struct {
	heads  headHeap
	single source.Stream
	onErr  func(error)
}

type head struct {
	s   source.Stream
	b   *source.Batch
	pos int
}

type headHeap []*head

func (h headHeap) Len() int { return len(h) }
func (h headHeap) Less(i, j int) bool {
	return h[i].b.Events[h[i].pos].Time < h[j].b.Events[h[j].pos].Time
}
func (h headHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *headHeap) Push(x any)   { *h = append(*h, x.(*head)) }
func (h *headHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newMerger(streams []source.Stream, onErr func(error)) *merger {
	m := &merger{onErr: onErr}
	if len(streams) == 1 {
		m.single = streams[0]
		return m
	}
	for _, s := range streams {
		h := &head{s: s}
		if m.fill(h) {
			m.heads = append(m.heads, h)
		}
	}
	heap.Init(&m.heads)
	return m
}

// fill loads the stream's next non-empty batch; false at its end.
func (m *merger) fill(h *head) bool {
	for {
		b, err := h.s.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && m.onErr != nil {
				m.onErr(err)
			}
			return false
		}
		if len(b.Events) == 0 {
			b.Release()
			continue
		}
		h.b, h.pos = b, 0
		return true
	}
}

// next returns the next batch in time order; false when every stream ended.
func (m *merger) next() (*source.Batch, bool) {
	if m.single != nil {
		b, err := m.single.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && m.onErr != nil {
				m.onErr(err)
			}
			return nil, false
		}
		return b, true
	}
	if len(m.heads) == 0 {
		return nil, false
	}
	out := source.NewBatch()
	for len(out.Events) < cap(out.Events) && len(m.heads) > 0 {
		h := m.heads[0]
		// Take the run of events from the first stream that stay at or
		// before the second stream's head, without touching the heap.
		limit := int64(1<<63 - 1)
		if len(m.heads) > 1 {
			limit = m.secondHead()
		}
		for h.pos < len(h.b.Events) && len(out.Events) < cap(out.Events) && h.b.Events[h.pos].Time <= limit {
			out.Events = append(out.Events, h.b.Events[h.pos])
			h.pos++
		}
		if h.pos == len(h.b.Events) {
			h.b.Release()
			if !m.fill(h) {
				heap.Pop(&m.heads)
				continue
			}
		}
		heap.Fix(&m.heads, 0)
	}
	return out, true
}

// secondHead is the earliest head time among the streams other than the
// first.
func (m *merger) secondHead() int64 {
	t := m.heads[1].b.Events[m.heads[1].pos].Time
	if len(m.heads) > 2 {
		if u := m.heads[2].b.Events[m.heads[2].pos].Time; u < t {
			t = u
		}
	}
	return t
}
