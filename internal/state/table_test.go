package state

import (
	"net/netip"
	"testing"

	"pgregory.net/rapid"
)

// TestTableModel checks the table against a plain map with an explicit
// recency list under random inserts, lookups and deletes: same contents,
// the least recently used entry is the one evicted, the cap is never
// exceeded and every eviction is counted.
func TestTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(1, 16).Draw(t, "cap")
		tab := New[int](capacity)
		var evicted []Key
		tab.OnEvict = func(k Key, v *int) { evicted = append(evicted, k) }
		model := map[Key]int{}
		var order []Key // least recently used first
		touch := func(k Key) {
			for i, o := range order {
				if o == k {
					order = append(order[:i], order[i+1:]...)
					break
				}
			}
			order = append(order, k)
		}
		keyGen := rapid.Custom(func(t *rapid.T) Key {
			return KeyOf(netip.AddrFrom4([4]byte{198, 51, 100, byte(rapid.IntRange(0, 40).Draw(t, "host"))}))
		})
		var wantEvictions uint64
		for step := 0; step < 200; step++ {
			k := keyGen.Draw(t, "key")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0: // insert and write
				v := rapid.Int().Draw(t, "val")
				if _, ok := model[k]; !ok && len(model) == capacity {
					lru := order[0]
					order = order[1:]
					delete(model, lru)
					wantEvictions++
					evicted = evicted[:0]
					i, _ := tab.Insert(k)
					if len(evicted) != 1 || evicted[0] != lru {
						t.Fatalf("evicted %v, want %v", evicted, lru)
					}
					*tab.At(i) = v
				} else {
					i, _ := tab.Insert(k)
					*tab.At(i) = v
				}
				model[k] = v
				touch(k)
			case 1: // lookup
				i, ok := tab.Lookup(k)
				want, wok := model[k]
				if ok != wok || (ok && *tab.At(i) != want) {
					t.Fatalf("lookup %v: got %v, want %v %v", k, ok, want, wok)
				}
				if ok {
					touch(k)
				}
			case 2: // delete
				if i, ok := tab.Peek(k); ok {
					tab.Delete(i)
					delete(model, k)
					for j, o := range order {
						if o == k {
							order = append(order[:j], order[j+1:]...)
							break
						}
					}
				}
			}
			if tab.Len() != len(model) || tab.Len() > capacity {
				t.Fatalf("len %d, model %d, cap %d", tab.Len(), len(model), capacity)
			}
			if tab.Evictions() != wantEvictions {
				t.Fatalf("evictions %d, want %d", tab.Evictions(), wantEvictions)
			}
			if len(order) > 0 {
				i, _ := tab.Oldest()
				if tab.KeyAt(i) != order[0] {
					t.Fatalf("oldest %v, want %v", tab.KeyAt(i), order[0])
				}
			}
		}
	})
}

func TestKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"198.51.100.7", "2001:db8::7", "::ffff:198.51.100.7"} {
		a := netip.MustParseAddr(s)
		if got := KeyOf(a).Addr(); got != a.Unmap() {
			t.Errorf("%s: round trip gave %s", s, got)
		}
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	tab := New[[64]byte](128)
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = KeyOf(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	for _, k := range keys {
		tab.Insert(k)
	}
	n := 0
	if a := testing.AllocsPerRun(1000, func() {
		tab.Insert(keys[n%len(keys)])
		n++
	}); a != 0 {
		t.Errorf("Insert with eviction allocates %.1f times, want 0", a)
	}
}

// TestIndexModel drives the open-addressing index hard (many keys, heavy
// churn, growth, wrap-around) against a Go map.
func TestIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := newIndex()
		var keys []Key
		model := map[Key]int32{}
		space := rapid.IntRange(1, 5000).Draw(t, "space")
		for step := 0; step < 2000; step++ {
			n := rapid.IntRange(0, space).Draw(t, "k")
			k := KeyOf(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}))
			slot, inModel := model[k]
			if rapid.IntRange(0, 2).Draw(t, "op") < 2 {
				if !inModel {
					keys = append(keys, k)
					slot = int32(len(keys) - 1)
					x.insert(&k, slot)
					model[k] = slot
				}
			} else if inModel {
				x.remove(&keys[slot], keys)
				delete(model, k)
			}
			if x.n != len(model) {
				t.Fatalf("n = %d, model %d", x.n, len(model))
			}
		}
		for k, want := range model {
			got, ok := x.find(&k, keys)
			if !ok || got != want {
				t.Fatalf("find %v = %d %v, want %d", k, got, ok, want)
			}
		}
		for i := range keys {
			if _, in := model[keys[i]]; !in {
				if _, ok := x.find(&keys[i], keys); ok {
					t.Fatalf("removed key %v still found", keys[i])
				}
			}
		}
	})
}
