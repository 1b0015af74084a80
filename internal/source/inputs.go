// Package source delivers records from where they live (files, stdin,
// sockets, capture, Kafka) with their origin, and runs the decoders that turn
// them into events. A source knows nothing about formats beyond asking the
// decode package to sniff them.
package source

import (
	"fmt"
	"sync"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Inputs names every input of a run, so events can carry a small id and
// evidence can still say "file:line". It is safe for concurrent use.
type Inputs struct {
	mu     sync.RWMutex
	names  []string
	frames []bool
}

// NewInputs makes an empty table.
func NewInputs() *Inputs { return &Inputs{} }

// Add registers an input and returns its id. frames says whether its index
// counts packets (file#frame) rather than lines (file:line).
func (in *Inputs) Add(name string, frames bool) uint32 {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.names = append(in.names, name)
	in.frames = append(in.frames, frames)
	return uint32(len(in.names) - 1)
}

// Name returns the name of input id.
func (in *Inputs) Name(id uint32) string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if int(id) < len(in.names) {
		return in.names[id]
	}
	return fmt.Sprintf("input%d", id)
}

// Resolve renders an origin as "name:line" or "name#frame".
func (in *Inputs) Resolve(o event.Origin) string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if int(o.Input) >= len(in.names) {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	if in.frames[o.Input] {
		return fmt.Sprintf("%s#%d", in.names[o.Input], o.Index)
	}
	return fmt.Sprintf("%s:%d", in.names[o.Input], o.Index)
}
