package packet

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// The flow table remembers the attempts waiting for an answer and the flows
// seen recently, keyed by the 5-tuple as the initiator sent it. Keys are
// attacker-controlled, so the table is capped: an arena of slots grown up to
// the cap, an index and an intrusive list in order of last activity. When it
// is full the least recently active flow is evicted (and counted), whatever
// state it is in; an evicted attempt is settled at once by its owner. In
// steady state nothing here allocates.
//
// The index is open addressing with linear probing and backward-shift
// deletion rather than a Go map: under a flood every packet inserts one key
// and evicts another, and the runtime map's deleted-slot markers then
// lengthen every probe (BenchmarkPcapDecodeDetectSYNFlood spent a third of
// its time in map probing). The hash is seeded per table, so keys cannot be
// chosen to collide.

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
	key flowKey
	// hash is key.hash(seed), kept so deletion and growth need not rehash.
	hash       uint64
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
	// index holds slot+1 per bucket (0: empty); its length is a power of
	// two at least twice the number of flows.
	index     []int32
	seed      uint64
	n         int
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
		index: make([]int32, min(ceilPow2(2*capacity), 1024)),
		seed:  rand.Uint64() | 1,
		head:  noSlot, tail: noSlot, free: noSlot,
		cap: capacity,
	}
}

func (t *flowTable) len() int { return t.n }

func (k *flowKey) hash(seed uint64) uint64 {
	h := seed
	h = mix(h ^ binary.LittleEndian.Uint64(k.src[0:]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.src[8:]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.dst[0:]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.dst[8:]))
	return mix(h ^ uint64(k.sport)<<24 ^ uint64(k.dport)<<8 ^ uint64(k.proto))
}

// mix is a multiply-xorshift finalizer (as in wyhash): cheap and enough to
// spread keys once the seed is unknown.
func mix(x uint64) uint64 {
	hi, lo := bits.Mul64(x, 0x9E3779B97F4A7C15)
	return hi ^ lo
}

func (t *flowTable) lookup(k *flowKey) (int32, bool) {
	return t.lookupHash(k, k.hash(t.seed))
}

func (t *flowTable) lookupHash(k *flowKey, h uint64) (int32, bool) {
	mask := uint64(len(t.index) - 1)
	for b := h & mask; ; b = (b + 1) & mask {
		v := t.index[b]
		if v == 0 {
			return noSlot, false
		}
		if f := &t.slots[v-1]; f.hash == h && f.key == *k {
			return v - 1, true
		}
	}
}

// place puts slot i (hash h) into the index.
func (t *flowTable) place(h uint64, i int32) {
	mask := uint64(len(t.index) - 1)
	b := h & mask
	for t.index[b] != 0 {
		b = (b + 1) & mask
	}
	t.index[b] = i + 1
}

// unindex removes slot i (hash h) from the index, shifting later entries
// of its probe run back so no marker is left behind.
func (t *flowTable) unindex(h uint64, i int32) {
	mask := uint64(len(t.index) - 1)
	b := h & mask
	for t.index[b] != i+1 {
		b = (b + 1) & mask
	}
	hole := b
	for j := (hole + 1) & mask; t.index[j] != 0; j = (j + 1) & mask {
		home := t.slots[t.index[j]-1].hash & mask
		// Move j into the hole unless its home lies cyclically in
		// (hole, j], where the probe from home reaches j without the hole.
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			t.index[hole] = t.index[j]
			t.index[j] = 0
			hole = j
		}
	}
	t.index[hole] = 0
}

// grow doubles the index when it would pass half full.
func (t *flowTable) grow() {
	old := t.index
	t.index = make([]int32, 2*len(old))
	for _, v := range old {
		if v != 0 {
			t.place(t.slots[v-1].hash, v-1)
		}
	}
}

// insert returns a fresh slot for k (which must be absent), evicting the
// least recently active flow when the table is full.
func (t *flowTable) insert(k *flowKey) int32 { return t.insertHash(k, k.hash(t.seed)) }

func (t *flowTable) insertHash(k *flowKey, h uint64) int32 {
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
		t.unindex(f.hash, i)
		t.n--
		t.evictions++
	}
	f := &t.slots[i]
	*f = flow{key: *k, hash: h, used: true, prev: noSlot, next: noSlot}
	if 2*(t.n+1) > len(t.index) {
		t.grow()
	}
	t.place(h, i)
	t.n++
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
	t.unindex(f.hash, i)
	t.n--
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
