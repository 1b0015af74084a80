package packet

import (
	"testing"

	"pgregory.net/rapid"
)

// TestFlowTableModel checks the flow table against a map and a recency
// list: lookups find exactly the live keys, the cap holds, and a full table
// evicts the least recently active flow.
func TestFlowTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(1, 40).Draw(t, "cap")
		ft := newFlowTable(capacity)
		var evicted []flowKey
		ft.onEvict = func(_ int32, f *flow) { evicted = append(evicted, f.key) }
		model := map[flowKey]bool{}
		var order []flowKey // least recently active first
		touch := func(k flowKey) {
			for i, o := range order {
				if o == k {
					order = append(order[:i], order[i+1:]...)
					break
				}
			}
			order = append(order, k)
		}
		key := func() flowKey {
			var k flowKey
			// Few distinct values, so keys collide and repeat.
			k.src[15] = rapid.Byte().Draw(t, "src") % 16
			k.dst[15] = rapid.Byte().Draw(t, "dst") % 4
			k.dport = uint16(rapid.IntRange(0, 3).Draw(t, "dport"))
			k.proto = 6
			return k
		}
		for range rapid.IntRange(1, 300).Draw(t, "ops") {
			k := key()
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0: // insert if absent
				if _, ok := ft.lookup(&k); ok != model[k] {
					t.Fatalf("lookup %v = %v, model %v", k, ok, model[k])
				}
				if model[k] {
					continue
				}
				evicted = evicted[:0]
				i := ft.insert(&k)
				if ft.slots[i].key != k {
					t.Fatal("insert returned another key's slot")
				}
				if len(model) == capacity {
					if len(evicted) != 1 || evicted[0] != order[0] {
						t.Fatalf("evicted %v, want the least recent %v", evicted, order[0])
					}
					delete(model, order[0])
					order = order[1:]
				}
				model[k] = true
				touch(k)
			case 1: // touch
				if i, ok := ft.lookup(&k); ok {
					ft.touch(i)
					touch(k)
				}
			case 2: // remove
				if i, ok := ft.lookup(&k); ok {
					ft.remove(i)
					delete(model, k)
					for j, o := range order {
						if o == k {
							order = append(order[:j], order[j+1:]...)
							break
						}
					}
				}
			}
			if ft.len() != len(model) || ft.len() > capacity {
				t.Fatalf("len %d, model %d, cap %d", ft.len(), len(model), capacity)
			}
			for mk := range model {
				if _, ok := ft.lookup(&mk); !ok {
					t.Fatalf("lost key %v", mk)
				}
			}
			if len(order) > 0 && ft.slots[ft.tail].key != order[0] {
				t.Fatalf("tail %v, want %v", ft.slots[ft.tail].key, order[0])
			}
		}
	})
}
