package packet

// The flow table remembers the attempts waiting for an answer and the flows
// seen recently, keyed by the 5-tuple as the initiator sent it. Keys are
// attacker-controlled, so the table is capped: an arena of slots grown up to
// the cap, an index map and an intrusive list in order of last activity.
// When it is full the least recently active flow is evicted (and counted),
// whatever state it is in; an evicted attempt is settled at once by its
// owner. In steady state nothing here allocates.

type flowKey struct {
	src, dst     [16]byte
	sport, dport uint16
	proto        uint8
}

type flowState uint8

const (
	// flowPending: an attempt waiting for its answer; its event is held.
	flowPending flowState = iota + 1
	// flowAllowed: answered by SYN-ACK or a UDP reply.
	flowAllowed
	// flowDenied: answered by RST or ICMP unreachable.
	flowDenied
	// flowSilent: no answer within the answer timeout; a late answer can
	// still turn it into a connection.
	flowSilent
)

type flow struct {
	key        flowKey
	prev, next int32
	used       bool
	state      flowState
	// qseq is the queue position of the attempt's held event.
	qseq  uint64
	first int64 // time of the attempt
	last  int64 // time of the last packet either way
}

const noSlot = -1

type flowTable struct {
	index     map[flowKey]int32
	slots     []flow
	head      int32 // most recently active
	tail      int32 // least recently active
	free      int32
	cap       int
	evictions uint64
	// onEvict settles what a flow holds before its slot is reused.
	onEvict func(i int32, f *flow)
}

func newFlowTable(capacity int) *flowTable {
	capacity = max(capacity, 1)
	return &flowTable{
		index: make(map[flowKey]int32, min(capacity, 4096)),
		head:  noSlot, tail: noSlot, free: noSlot,
		cap: capacity,
	}
}

func (t *flowTable) len() int { return len(t.index) }

func (t *flowTable) lookup(k *flowKey) (int32, bool) {
	i, ok := t.index[*k]
	return i, ok
}

// insert returns a fresh slot for k (which must be absent), evicting the
// least recently active flow when the table is full.
func (t *flowTable) insert(k *flowKey) int32 {
	var i int32
	switch {
	case t.free != noSlot:
		i = t.free
		t.free = t.slots[i].next
	case len(t.slots) < t.cap:
		t.slots = append(t.slots, flow{})
		i = int32(len(t.slots) - 1)
	default:
		i = t.tail
		f := &t.slots[i]
		if t.onEvict != nil {
			t.onEvict(i, f)
		}
		t.unlink(i)
		delete(t.index, f.key)
		t.evictions++
	}
	f := &t.slots[i]
	*f = flow{key: *k, used: true, prev: noSlot, next: noSlot}
	t.index[*k] = i
	t.pushFront(i)
	return i
}

func (t *flowTable) at(i int32) *flow { return &t.slots[i] }

func (t *flowTable) remove(i int32) {
	f := &t.slots[i]
	if !f.used {
		return
	}
	t.unlink(i)
	delete(t.index, f.key)
	*f = flow{next: t.free}
	t.free = i
}

func (t *flowTable) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *flowTable) unlink(i int32) {
	f := &t.slots[i]
	if f.prev != noSlot {
		t.slots[f.prev].next = f.next
	} else {
		t.head = f.next
	}
	if f.next != noSlot {
		t.slots[f.next].prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = noSlot, noSlot
}

func (t *flowTable) pushFront(i int32) {
	f := &t.slots[i]
	f.prev = noSlot
	f.next = t.head
	if t.head != noSlot {
		t.slots[t.head].prev = i
	}
	t.head = i
	if t.tail == noSlot {
		t.tail = i
	}
}
