// Package backoff computes the delays between retries: capped exponential backoff with full
// jitter, the scheme AWS recommends for its APIs ("Exponential Backoff And Jitter", AWS
// Architecture Blog). It is the one retry policy of kinesyslog: the uploader waits with it between
// Firehose calls and the spool between attempts to write to a full disk.
//
// Full jitter draws each delay uniformly from [0, min(Max, Base·2^attempt)]: clients that failed
// together do not retry together, and the expected delay still doubles with each attempt.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults used when a Backoff field is zero.
const (
	DefaultBase = 100 * time.Millisecond
	DefaultMax  = 30 * time.Second
)

// maxShift bounds the exponent so that Base<<attempt cannot overflow int64 before the cap is
// applied: any Base of a nanosecond or more reaches every useful Max within 62 doublings.
const maxShift = 62

// Backoff yields the delays of one sequence of retries. The zero value is ready to use with
// DefaultBase and DefaultMax. A Backoff is not safe for concurrent use: give each retry loop its
// own value.
type Backoff struct {
	// Base is the ceiling of the first delay; 0 means DefaultBase.
	Base time.Duration
	// Max caps the ceiling of every delay; 0 means DefaultMax.
	Max time.Duration
	// Rand supplies the jitter; nil means the process-wide source of math/rand/v2. Tests set a
	// seeded generator to make the delays deterministic. It must not be shared between goroutines.
	Rand *rand.Rand

	attempt int
}

// Next returns the delay to wait before the next retry and advances the sequence.
func (b *Backoff) Next() time.Duration {
	ceiling := b.ceiling()
	if b.attempt < maxShift {
		b.attempt++
	}
	// The upper bound is inclusive so that a sequence at its cap can wait the full Max; unsigned
	// arithmetic keeps ceiling+1 from overflowing when Max is the largest Duration.
	n := uint64(ceiling) + 1
	if b.Rand != nil {
		return time.Duration(b.Rand.Uint64N(n))
	}
	return time.Duration(rand.Uint64N(n))
}

// Reset starts the sequence again from Base, e.g. once the operation succeeded.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() and returns nil, or returns ctx.Err() as soon as ctx is done.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ceiling is min(Max, Base·2^attempt).
func (b *Backoff) ceiling() time.Duration {
	base, limit := b.Base, b.Max
	if base <= 0 {
		base = DefaultBase
	}
	if limit <= 0 {
		limit = DefaultMax
	}
	if base >= limit {
		return limit
	}
	// Compare before shifting: base<<attempt overflows long before attempt reaches maxShift.
	if b.attempt >= maxShift || base > limit>>b.attempt {
		return limit
	}
	return base << b.attempt
}
