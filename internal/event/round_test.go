package event

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRoundedMillis compares roundedMillis with Round and UnixMilli on halves, their neighbours
// and random times of years 1 to 9999, before and after 1970.
func TestRoundedMillis(t *testing.T) {
	first := time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).Unix()
	last := time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC).Unix()
	r := rand.New(rand.NewPCG(13, 8))
	for range 100_000 {
		sec := first + r.Int64N(last-first+1)
		for _, nsec := range []int64{r.Int64N(1e9), 0, 499_999, 500_000, 500_001, 999_499_999, 999_500_000, 999_999_999} {
			ts := time.Unix(sec, nsec)
			if got, want := roundedMillis(ts), ts.Round(time.Millisecond).UnixMilli(); got != want {
				t.Fatalf("roundedMillis(%v) = %d, want %d", ts, got, want)
			}
		}
	}
}
