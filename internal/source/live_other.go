//go:build !linux

package source

import (
	"context"
	"errors"
)

// NewLiveCapture needs Linux: it captures through AF_PACKET.
func NewLiveCapture(context.Context, LiveOptions) (*LiveCapture, error) {
	return nil, errors.New("live capture: needs Linux (AF_PACKET)")
}
