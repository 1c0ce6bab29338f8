package encode

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
			end: func(signal, _ context.CancelFunc) { signal() }, wantCause: ErrDeadline},
		{name: "zero timeout: no wait, no deadline", timeout: 0,
			end: func(signal, _ context.CancelFunc) { signal() }, wantCause: context.Canceled},
		{name: "parent done first", timeout: time.Hour,
			end: func(signal, parent context.CancelFunc) { signal(); parent() }, wantCause: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signal, sendSignal := context.WithCancel(context.Background())
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			window, stop := ShutdownWindow(signal, parent, tt.timeout)
			defer stop()
			if window.Err() != nil {
				t.Fatalf("window done before the signal: %v", context.Cause(window))
			}
			tt.end(sendSignal, cancelParent)
			waitDone(t, window)
			if cause := context.Cause(window); !errors.Is(cause, tt.wantCause) {
				t.Errorf("window cause = %v, want %v", cause, tt.wantCause)
			}
			if got, want := pastDeadline(window), tt.wantCause == ErrDeadline; got != want {
				t.Errorf("pastDeadline = %v, want %v", got, want)
			}
		})
	}
}

func TestShutdownWindowStop(t *testing.T) {
	signal, sendSignal := context.WithCancel(context.Background())
	defer sendSignal()
	window, stop := ShutdownWindow(signal, context.Background(), time.Hour)
	stop()
	waitDone(t, window)
	if cause := context.Cause(window); errors.Is(cause, ErrDeadline) {
		t.Errorf("window cause after stop = %v, want not %v", cause, ErrDeadline)
	}
}
