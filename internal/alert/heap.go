package alert

import "strings"

// Heap orders alerts by time, then id (the order a hunt reports them in),
// for container/heap: streams that reorder alerts before they release
// them (the sensor's post-processing, the Kafka correlator) use it.
type Heap []*Alert

func (h Heap) Len() int { return len(h) }
func (h Heap) Less(i, j int) bool {
	if c := h[i].Time.Compare(h[j].Time); c != 0 {
		return c < 0
	}
	return strings.Compare(h[i].ID, h[j].ID) < 0
}
func (h Heap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *Heap) Push(x any)   { *h = append(*h, x.(*Alert)) }
func (h *Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
