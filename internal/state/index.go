package state

import (
	"hash/maphash"
)

// index maps keys to slots with open addressing and linear probing. Under a
// flood of spoofed sources every event inserts one key and evicts another;
// Go's map spends most of that in its delete path and in probing groups
// spread over memory, while here a lookup reads a few adjacent 8-byte
// buckets and compares a 32-bit hash before touching a key. Deletion shifts
// later entries back (no tombstones), so probe chains stay short however
// long the churn goes on. The hash is seeded per process, so an attacker
// cannot choose addresses that collide.
type index struct {
	seed    maphash.Seed
	buckets []bucket
	mask    uint64
	n       int
}

// bucket holds a slot and the low 32 bits of its key's hash; slot+1 is
// stored so that the zero value means empty.
type bucket struct {
	hash uint32
	slot int32
}

func newIndex() index {
	return index{seed: maphash.MakeSeed()}
}

// hash returns the low 32 bits of the key's seeded hash: they place the
// entry and screen comparisons, so a table of up to 2^32 buckets needs no
// more.
func (x *index) hash(k *Key) uint64 { return uint64(uint32(maphash.Comparable(x.seed, *k))) }

// find returns the slot of k, looking keys up in keys.
func (x *index) find(k *Key, keys []Key) (int32, bool) {
	if x.n == 0 {
		return none, false
	}
	h := x.hash(k)
	h32 := uint32(h)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		b := x.buckets[i]
		if b.slot == 0 {
			return none, false
		}
		if b.hash == h32 && keys[b.slot-1] == *k {
			return b.slot - 1, true
		}
	}
}

// insert adds k (not present) with its slot.
func (x *index) insert(k *Key, slot int32) {
	if (x.n+1)*2 > len(x.buckets) {
		x.grow()
	}
	h := x.hash(k)
	i := h & x.mask
	for x.buckets[i].slot != 0 {
		i = (i + 1) & x.mask
	}
	x.buckets[i] = bucket{hash: uint32(h), slot: slot + 1}
	x.n++
}

// remove deletes k, which must be present, and shifts the entries after it
// back so no probe chain is broken.
func (x *index) remove(k *Key, keys []Key) {
	h := x.hash(k)
	i := h & x.mask
	for {
		b := x.buckets[i]
		if b.slot == 0 {
			return // not present
		}
		if b.hash == uint32(h) && keys[b.slot-1] == *k {
			break
		}
		i = (i + 1) & x.mask
	}
	x.n--
	for j := (i + 1) & x.mask; ; j = (j + 1) & x.mask {
		b := x.buckets[j]
		if b.slot == 0 {
			break
		}
		// An entry whose home lies cyclically outside (i, j] may move into
		// the hole at i without losing its place on its probe chain.
		home := uint64(b.hash) & x.mask
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.buckets[i] = b
			i = j
		}
	}
	x.buckets[i] = bucket{}
}

// grow doubles the bucket array and re-inserts every entry. The low 32 bits
// of the hash place an entry, so tables up to 2^32 buckets need no key.
func (x *index) grow() {
	old := x.buckets
	size := max(2*len(old), 1024)
	x.buckets = make([]bucket, size)
	x.mask = uint64(size - 1)
	for _, b := range old {
		if b.slot == 0 {
			continue
		}
		i := uint64(b.hash) & x.mask
		for x.buckets[i].slot != 0 {
			i = (i + 1) & x.mask
		}
		x.buckets[i] = b
	}
}
