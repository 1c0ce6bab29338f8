package testenv

import (
	"testing"
	"time"
)

const (
	// PollTimeout is how long Eventually waits for a condition before it fails the test: far
	// beyond what any condition of the tests takes on a loaded machine, since it is spent only
	// when a test fails.
	PollTimeout = 30 * time.Second
	// minPollInterval and maxPollInterval bound the wait between two checks: it starts short,
	// for conditions that hold at once, and doubles, so that long waits check cheaply.
	minPollInterval = time.Millisecond
	maxPollInterval = 20 * time.Millisecond
)

// Eventually checks cond until it holds, and fails the test with what was awaited when it does
// not hold within PollTimeout. It is how tests wait for another goroutine or process: never a
// bare sleep.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	EventuallyWithin(tb, PollTimeout, what, cond)
}

// EventuallyWithin is Eventually with its own deadline, for waits that a test bounds on purpose
// (a stage that must recover within a window) or that take longer than PollTimeout.
func EventuallyWithin(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Within(timeout, cond) {
		tb.Fatalf("%s: not within %v", what, timeout)
	}
}

// Within checks cond until it holds or timeout has passed, and reports whether it held: for a
// wait whose outcome a test reports rather than fails on.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := minPollInterval
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
		interval = min(2*interval, maxPollInterval)
	}
	return true
}
