// Package state holds per-key detector state in a table whose size is capped
// and whose least recently seen entries are evicted to make room. Keys are
// things an attacker controls (source addresses), so nothing here grows with
// the number of distinct keys beyond the cap.
//
// The table is an arena of slots (one slice, grown up to the cap), an
// open-addressing index from key to slot (index.go) and an intrusive doubly
// linked LRU list threaded through the slots. It allocates only while the arena grows; in steady state
// a lookup, an insert or an eviction allocates nothing. Slots are addressed by
// index, never by a pointer kept across calls, because growing the arena
// moves it.
package state

import (
	"net/netip"
	"slices"
)

// Key is an address in 16-byte form (IPv4 as IPv4-mapped IPv6). It holds no
// pointers, so the garbage collector does not scan the keys.
type Key [16]byte

// KeyOf returns the key of an address.
func KeyOf(a netip.Addr) Key { return Key(a.As16()) }

// Addr returns the address a key was made from.
func (k Key) Addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

const none = -1

// link is a slot's place in the LRU list. Links live in their own small
// array, apart from the (large) values, so moving an entry to the front
// touches a few bytes instead of pulling its neighbours' values into cache.
type link struct {
	prev, next int32
}

// Table is a capped LRU table. It is not safe for concurrent use: a shard
// owns its table.
type Table[V any] struct {
	index index
	keys  []Key
	links []link
	used  []bool
	vals  []V
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
		index: newIndex(),
		head:  none, tail: none, free: none,
		cap: capacity,
	}
}

// Len is the number of entries.
func (t *Table[V]) Len() int { return t.index.n }

// Cap is the maximum number of entries.
func (t *Table[V]) Cap() int { return t.cap }

// Evictions counts entries dropped to make room.
func (t *Table[V]) Evictions() uint64 { return t.evictions }

// Lookup returns the slot of key and marks it most recently used.
func (t *Table[V]) Lookup(key Key) (int32, bool) {
	i, ok := t.index.find(&key, t.keys)
	if !ok {
		return none, false
	}
	t.touch(i)
	return i, true
}

// Peek returns the slot of key without changing its recency.
func (t *Table[V]) Peek(key Key) (int32, bool) {
	return t.index.find(&key, t.keys)
}

// Insert returns the slot of key, creating it with a zero value if absent
// (evicting the least recently used entry when full). created says whether
// the entry is new.
func (t *Table[V]) Insert(key Key) (i int32, created bool) {
	if i, ok := t.index.find(&key, t.keys); ok {
		t.touch(i)
		return i, false
	}
	switch {
	case t.free != none:
		i = t.free
		t.free = t.links[i].next
	case len(t.vals) < t.cap:
		if len(t.vals) == cap(t.vals) {
			t.grow()
		}
		t.keys = append(t.keys, Key{})
		t.links = append(t.links, link{})
		t.used = append(t.used, false)
		var zero V
		t.vals = append(t.vals, zero)
		i = int32(len(t.vals) - 1)
	default:
		i = t.tail
		if t.OnEvict != nil {
			t.OnEvict(t.keys[i], &t.vals[i])
		}
		t.unlink(i)
		t.index.remove(&t.keys[i], t.keys)
		t.evictions++
	}
	var zero V
	t.keys[i], t.vals[i], t.used[i] = key, zero, true
	t.index.insert(&key, i)
	t.pushFront(i)
	return i, true
}

// grow enlarges the arena by doubling, but never past the cap: append's own
// growth would overshoot it, and the cap is a memory promise.
func (t *Table[V]) grow() {
	n := min(max(2*cap(t.vals), 256), t.cap)
	t.keys = slices.Grow(t.keys[:len(t.keys):len(t.keys)], n-len(t.keys))[:len(t.keys)]
	t.links = slices.Grow(t.links[:len(t.links):len(t.links)], n-len(t.links))[:len(t.links)]
	t.used = slices.Grow(t.used[:len(t.used):len(t.used)], n-len(t.used))[:len(t.used)]
	vals := make([]V, len(t.vals), n)
	copy(vals, t.vals)
	t.vals = vals
}

// At returns the value in slot i. The pointer is valid until the next Insert.
func (t *Table[V]) At(i int32) *V { return &t.vals[i] }

// KeyAt returns the key in slot i.
func (t *Table[V]) KeyAt(i int32) Key { return t.keys[i] }

// Live reports whether slot i holds an entry.
func (t *Table[V]) Live(i int32) bool {
	return i >= 0 && int(i) < len(t.used) && t.used[i]
}

// Oldest returns the least recently used slot.
func (t *Table[V]) Oldest() (int32, bool) {
	return t.tail, t.tail != none
}

// Delete removes the entry in slot i.
func (t *Table[V]) Delete(i int32) {
	if !t.used[i] {
		return
	}
	t.unlink(i)
	t.index.remove(&t.keys[i], t.keys)
	var zero V
	t.vals[i], t.used[i] = zero, false
	t.links[i].next = t.free
	t.free = i
}

// Each calls fn for every entry, most recently used first.
func (t *Table[V]) Each(fn func(i int32)) {
	for i := t.head; i != none; {
		next := t.links[i].next
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
	l := &t.links[i]
	if l.prev != none {
		t.links[l.prev].next = l.next
	} else {
		t.head = l.next
	}
	if l.next != none {
		t.links[l.next].prev = l.prev
	} else {
		t.tail = l.prev
	}
	l.prev, l.next = none, none
}

func (t *Table[V]) pushFront(i int32) {
	l := &t.links[i]
	l.prev = none
	l.next = t.head
	if t.head != none {
		t.links[t.head].prev = i
	}
	t.head = i
	if t.tail == none {
		t.tail = i
	}
}
