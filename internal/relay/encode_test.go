package relay

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitDone waits until ctx is done, failing the test after a deadline.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("window still open 10s later")
	}
}

func TestShutdownWindow(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration
		end       func(signal, parent context.CancelFunc)
		wantCause error
	}{
		{name: "timeout after the signal", timeout: 20 * time.Millisecond,
			end: func(signal, _ context.CancelFunc) { signal() }, wantCause: errShutdownTimeout},
		{name: "zero timeout", timeout: 0,
			end: func(signal, _ context.CancelFunc) { signal() }, wantCause: errShutdownTimeout},
		{name: "parent done first", timeout: time.Hour,
			end: func(signal, parent context.CancelFunc) { signal(); parent() }, wantCause: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signal, sendSignal := context.WithCancel(context.Background())
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			window, stop := shutdownWindow(signal, parent, tt.timeout)
			defer stop()
			if window.Err() != nil {
				t.Fatalf("window done before the signal: %v", context.Cause(window))
			}
			tt.end(sendSignal, cancelParent)
			waitDone(t, window)
			if cause := context.Cause(window); !errors.Is(cause, tt.wantCause) {
				t.Errorf("window cause = %v, want %v", cause, tt.wantCause)
			}
		})
	}
}

func TestShutdownWindowStop(t *testing.T) {
	signal, sendSignal := context.WithCancel(context.Background())
	defer sendSignal()
	window, stop := shutdownWindow(signal, context.Background(), time.Hour)
	stop()
	waitDone(t, window)
	if cause := context.Cause(window); errors.Is(cause, errShutdownTimeout) {
		t.Errorf("window cause after stop = %v, want not %v", cause, errShutdownTimeout)
	}
}
