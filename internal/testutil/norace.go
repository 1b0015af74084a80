//go:build !race

package testutil

// Race is true when the race detector is on: it multiplies memory and
// time, so tests that measure either skip.
const Race = false
