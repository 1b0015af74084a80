// Package state holds per-key detector state in a table whose size is capped
// and whose least recently seen entries are evicted to make room. Keys are
// things an attacker controls (source addresses), so nothing here grows with
// the number of distinct keys beyond the cap.
//
// The table is an arena of slots (one slice, grown up to the cap), an index
// map from key to slot and an intrusive doubly linked LRU list threaded
// through the slots. It allocates only while the arena grows; in steady state
// a lookup, an insert or an eviction allocates nothing. Slots are addressed by
// index, never by a pointer kept across calls, because growing the arena
// moves it.
package state

import (
	"net/netip"
)

// Key is an address in 16-byte form (IPv4 as IPv4-mapped IPv6). A map keyed
// by it holds no pointers, so the garbage collector does not scan it.
type Key [16]byte

// KeyOf returns the key of an address.
func KeyOf(a netip.Addr) Key { return Key(a.As16()) }

// Addr returns the address a key was made from.
func (k Key) Addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

const none = -1

type slot[V any] struct {
	key        Key
	prev, next int32
	used       bool
	val        V
}

// Table is a capped LRU table. It is not safe for concurrent use: a shard
// owns its table.
type Table[V any] struct {
	index map[Key]int32
	slots []slot[V]
	head  int32 // most recently used
	tail  int32 // least recently used
	free  int32
	cap   int

	// OnEvict, if set, is called with a slot's value before the slot is
	// reused for another key, so the owner can settle what it held.
	OnEvict func(key Key, v *V)

	evictions uint64
}

// New makes a table of at most capacity entries.
func New[V any](capacity int) *Table[V] {
	if capacity < 1 {
		capacity = 1
	}
	return &Table[V]{
		index: make(map[Key]int32, min(capacity, 1024)),
		head:  none, tail: none, free: none,
		cap: capacity,
	}
}

// Len is the number of entries.
func (t *Table[V]) Len() int { return len(t.index) }

// Cap is the maximum number of entries.
func (t *Table[V]) Cap() int { return t.cap }

// Evictions counts entries dropped to make room.
func (t *Table[V]) Evictions() uint64 { return t.evictions }

// Lookup returns the slot of key and marks it most recently used.
func (t *Table[V]) Lookup(key Key) (int32, bool) {
	i, ok := t.index[key]
	if !ok {
		return none, false
	}
	t.touch(i)
	return i, true
}

// Peek returns the slot of key without changing its recency.
func (t *Table[V]) Peek(key Key) (int32, bool) {
	i, ok := t.index[key]
	return i, ok
}

// Insert returns the slot of key, creating it with a zero value if absent
// (evicting the least recently used entry when full). created says whether
// the entry is new.
func (t *Table[V]) Insert(key Key) (i int32, created bool) {
	if i, ok := t.index[key]; ok {
		t.touch(i)
		return i, false
	}
	switch {
	case t.free != none:
		i = t.free
		t.free = t.slots[i].next
	case len(t.slots) < t.cap:
		t.slots = append(t.slots, slot[V]{})
		i = int32(len(t.slots) - 1)
	default:
		i = t.tail
		s := &t.slots[i]
		if t.OnEvict != nil {
			t.OnEvict(s.key, &s.val)
		}
		t.unlink(i)
		delete(t.index, s.key)
		t.evictions++
	}
	s := &t.slots[i]
	var zero V
	s.key, s.val, s.used = key, zero, true
	t.index[key] = i
	t.pushFront(i)
	return i, true
}

// At returns the value in slot i. The pointer is valid until the next Insert.
func (t *Table[V]) At(i int32) *V { return &t.slots[i].val }

// KeyAt returns the key in slot i.
func (t *Table[V]) KeyAt(i int32) Key { return t.slots[i].key }

// Live reports whether slot i holds an entry.
func (t *Table[V]) Live(i int32) bool {
	return i >= 0 && int(i) < len(t.slots) && t.slots[i].used
}

// Oldest returns the least recently used slot.
func (t *Table[V]) Oldest() (int32, bool) {
	return t.tail, t.tail != none
}

// Delete removes the entry in slot i.
func (t *Table[V]) Delete(i int32) {
	s := &t.slots[i]
	if !s.used {
		return
	}
	t.unlink(i)
	delete(t.index, s.key)
	var zero V
	s.val, s.used = zero, false
	s.next = t.free
	t.free = i
}

// Each calls fn for every entry, most recently used first.
func (t *Table[V]) Each(fn func(i int32)) {
	for i := t.head; i != none; {
		next := t.slots[i].next
		fn(i)
		i = next
	}
}

func (t *Table[V]) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *Table[V]) unlink(i int32) {
	s := &t.slots[i]
	if s.prev != none {
		t.slots[s.prev].next = s.next
	} else {
		t.head = s.next
	}
	if s.next != none {
		t.slots[s.next].prev = s.prev
	} else {
		t.tail = s.prev
	}
	s.prev, s.next = none, none
}

func (t *Table[V]) pushFront(i int32) {
	s := &t.slots[i]
	s.prev = none
	s.next = t.head
	if t.head != none {
		t.slots[t.head].prev = i
	}
	t.head = i
	if t.tail == none {
		t.tail = i
	}
}
