package testenv

import (
	"bytes"
	"sync"
)

// A Buffer collects what several goroutines write, such as a child process's output or a
// logger's lines, for the test to read at any time. Its zero value is empty and ready; it is
// safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
