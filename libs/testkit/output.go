package testkit

import (
	"bytes"
	"sync"
)

// SyncBuffer collects the output of a process a test runs in the
// background: exec copies into it from its own goroutines while the test
// reads it (for a failure message, or to wait for a line).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
