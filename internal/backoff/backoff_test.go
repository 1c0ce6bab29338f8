package backoff

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{
			name: "doubles up to the cap",
			b:    Backoff{Base: s, Max: 10 * s},
			want: []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s},
		},
		{
			name: "zero value uses the defaults",
			want: []time.Duration{DefaultBase, 2 * DefaultBase, 4 * DefaultBase},
		},
		{
			name: "base above max is capped",
			b:    Backoff{Base: time.Minute, Max: s},
			want: []time.Duration{s, s},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			for i, want := range tt.want {
				if got := b.ceiling(); got != want {
					t.Errorf("attempt %d: ceiling() = %v, want %v", i, got, want)
				}
				b.Next()
			}
		})
	}
}

func TestNextStaysWithinCeiling(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: time.Second, Rand: rand.New(rand.NewPCG(1, 2))}
	for i := range 1000 {
		ceiling := b.ceiling()
		if d := b.Next(); d < 0 || d > ceiling {
			t.Fatalf("attempt %d: Next() = %v, want within [0, %v]", i, d, ceiling)
		}
	}
}

func TestNextNeverOverflows(t *testing.T) {
	b := Backoff{Base: time.Nanosecond, Max: time.Duration(1<<63 - 1)}
	for i := range 200 {
		if d := b.Next(); d < 0 {
			t.Fatalf("attempt %d: Next() = %v, want non-negative", i, d)
		}
	}
	if got, want := b.ceiling(), b.Max; got != want {
		t.Errorf("ceiling() after 200 attempts = %v, want %v", got, want)
	}
}

func TestDeterministicWithSeededRand(t *testing.T) {
	seq := func() []time.Duration {
		b := Backoff{Base: time.Millisecond, Max: time.Second, Rand: rand.New(rand.NewPCG(7, 7))}
		var out []time.Duration
		for range 20 {
			out = append(out, b.Next())
		}
		return out
	}
	a, b := seq(), seq()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("delay %d differs between equally seeded sequences: %v != %v", i, a[i], b[i])
		}
	}
}

func TestReset(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Hour}
	for range 5 {
		b.Next()
	}
	b.Reset()
	if got := b.ceiling(); got != time.Second {
		t.Errorf("ceiling() after Reset = %v, want %v", got, time.Second)
	}
}

func TestWait(t *testing.T) {
	t.Run("returns after the delay", func(t *testing.T) {
		b := Backoff{Base: time.Nanosecond, Max: time.Nanosecond}
		if err := b.Wait(context.Background()); err != nil {
			t.Errorf("Wait() = %v, want nil", err)
		}
	})
	t.Run("returns the context error when done", func(t *testing.T) {
		b := Backoff{Base: time.Hour, Max: time.Hour, Rand: rand.New(rand.NewPCG(1, 1))}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait() = %v, want context.Canceled", err)
		}
	})
}
