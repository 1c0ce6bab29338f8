package buffer

import (
	"sync"
	"sync/atomic"
)

// memory counts the bytes of events the buffers hold against their cap, and wakes the commits
// waiting for room.
type memory struct {
	max int64
	// handedOn counts the batches handed on and not yet released: while there is one, memory
	// will be freed without help.
	handedOn atomic.Int64
	closing  chan struct{} // closed by Close

	mu   sync.Mutex
	held int64
	// conns is the part of held that connections reserved for messages they are still reading;
	// it is kept to at most half of max, so that batches always have room to drain into.
	conns   int64
	waiters int
	// changed is closed and replaced on every change of held while a commit waits, so that
	// waiters look again; with none waiting it is left alone, which keeps commits from
	// allocating.
	changed chan struct{}
	capped  bool // the cap was reached, and held has not yet gone below half of it
}

func (m *memory) init(maxBytes int64) {
	m.max = maxBytes
	m.closing = make(chan struct{})
	m.changed = make(chan struct{})
}

// fits reports whether size more bytes stay within the cap, and for a connection's reservation
// (conn) within half of it. One commit larger than the cap goes through alone rather than never,
// and so does one connection's reservation larger than half of it.
func (m *memory) fits(size int, conn bool) bool {
	if conn && m.conns > 0 && m.conns+int64(size) > m.max/2 {
		return false
	}
	return m.held == 0 || m.held+int64(size) <= m.max
}

// reserve counts size bytes if they fit, as a connection's reservation if conn is set. When they
// do not and wait is set, the caller becomes a waiter, and must call stopWaiting once done;
// changed announces the next change. reached reports that the cap has just been reached.
func (m *memory) reserve(size int, wait, conn bool) (changed <-chan struct{}, ok, reached bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fits(size, conn) {
		m.take(size, conn)
		return nil, true, false
	}
	reached = !m.capped
	m.capped = true
	if !wait {
		return nil, false, reached
	}
	m.waiters++
	return m.changed, false, reached
}

// retry is reserve for a waiter.
func (m *memory) retry(size int, conn bool) (changed <-chan struct{}, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fits(size, conn) {
		m.take(size, conn)
		return nil, true
	}
	return m.changed, false
}

// take counts size bytes that fit, under mu.
func (m *memory) take(size int, conn bool) {
	if conn {
		m.conns += int64(size)
	}
	m.addLocked(int64(size))
}

// changes returns the channel that announces the next change, for a waiter.
func (m *memory) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *memory) stopWaiting() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiters--
}

// grow counts size bytes without regard to the cap: bytes that are already held elsewhere.
func (m *memory) grow(size int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addLocked(int64(size))
}

// shrink stops counting size bytes. It reports true when that takes the bytes held below half
// the cap after it was reached, for a log line that does not repeat at every commit.
func (m *memory) shrink(size int, conn bool) bool {
	if size == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if conn {
		m.conns -= int64(size)
	}
	m.addLocked(-int64(size))
	if m.capped && m.held < m.max/2 {
		m.capped = false
		return true
	}
	return false
}

func (m *memory) addLocked(delta int64) {
	m.held += delta
	if m.waiters > 0 {
		close(m.changed)
		m.changed = make(chan struct{})
	}
}

// bytes returns the bytes of events held, and those reserved by connections.
func (m *memory) bytes() (events, conns int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held - m.conns, m.conns
}
