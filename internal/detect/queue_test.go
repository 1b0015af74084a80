package detect

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestDeadlineQueueOrder checks the heap against sorting: whatever is
// pushed comes out in deadline order.
func TestDeadlineQueueOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q deadlineQueue
		var model []int64
		for _, op := range rapid.SliceOf(rapid.Int64Range(-1, 1000)).Draw(t, "ops") {
			if op < 0 {
				if q.Len() == 0 {
					continue
				}
				slices.Sort(model)
				got := q.Pop().deadline
				if got != model[0] {
					t.Fatalf("popped %d, want %d", got, model[0])
				}
				model = model[1:]
				continue
			}
			q.Push(deadlineItem{deadline: op})
			model = append(model, op)
		}
		slices.Sort(model)
		for _, want := range model {
			if got := q.Pop().deadline; got != want {
				t.Fatalf("drain: popped %d, want %d", got, want)
			}
		}
		if q.Len() != 0 {
			t.Fatalf("%d left", q.Len())
		}
	})
}

// TestDeadlineWheel checks the wheel against a plain list: every item comes
// out exactly once, never before its deadline, and no later than one tick
// after event time passed it, whatever the jumps in time.
func TestDeadlineWheel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const tick = int64(1) << wheelTickShift
		horizon := rapid.Int64Range(tick, 200*tick).Draw(t, "horizon")
		w := newDeadlineWheel(horizon)
		now := rapid.Int64Range(0, 1<<40).Draw(t, "start")
		pending := map[uint32]int64{}
		pushedAt := map[uint32]int64{}
		var id uint32
		for step := 0; step < 300; step++ {
			if rapid.Bool().Draw(t, "push") {
				ahead := rapid.Int64Range(-tick, horizon*3).Draw(t, "ahead")
				id++
				w.Push(deadlineItem{deadline: now + ahead, gen: id}, now)
				pending[id] = now + ahead
				pushedAt[id] = now
			} else {
				now += rapid.Int64Range(0, horizon*2).Draw(t, "advance")
			}
			for _, it := range w.Due(now) {
				d, ok := pending[it.gen]
				if !ok {
					t.Fatalf("item %d came out twice or was never pushed", it.gen)
				}
				if d > now {
					t.Fatalf("item due at %d came out at %d", d, now)
				}
				delete(pending, it.gen)
			}
			for g, d := range pending {
				// An item pushed already late is due from the bucket of its push.
				if max(d, pushedAt[g])>>wheelTickShift < now>>wheelTickShift {
					t.Fatalf("item %d due at %d still queued at %d", g, d, now)
				}
			}
			if w.Len() != len(pending) {
				t.Fatalf("Len %d, want %d", w.Len(), len(pending))
			}
		}
	})
}
