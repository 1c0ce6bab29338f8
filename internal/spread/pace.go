package spread

import (
	"errors"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// How a stream's rate is learned (see the package documentation).
const (
	// burst is how much of its rate a stream's bucket saves up: half a second, half of what the
	// service's quota saves up, so that calls that reach the service closer together than they
	// were sent still find room there.
	burst = 500 * time.Millisecond
	// slowStartGrowth multiplies the rate after each clean chunk that waited, until the first
	// throttle.
	slowStartGrowth = 1.25
	// cutFactor multiplies the rate found at a throttle: the rate, the rate sent at when lower, or
	// in slow start the rate before the last growth. A stream of about one record a second (a
	// 1 MiB/s quota and records near 1 MB) sends about one chunk between two throttles for each
	// point of the rate the cut takes off, so that a deep cut costs more of the quota than the
	// throttles it saves.
	cutFactor = 0.9
	// recoverDivisor divides what the rate lacks of the rate found at the last cut into the step
	// added after each clean chunk that waited: what a cut took is mostly back within a few
	// chunks, the service's bucket having refilled meanwhile.
	recoverDivisor = 8
	// probeDivisor divides the rate found at the last cut into the least step added after each
	// clean chunk that waited: past that rate, the quota is probed by half a percent a chunk.
	probeDivisor = 200
	// measureWindow is how far back the rate a stream sent at is measured, and measureLeast the
	// least time the starts of the chunks measured must span: two chunks at least, as a 1 MiB/s
	// stream sends about one record of 1 MB a second.
	measureWindow = 2 * time.Second
	measureLeast  = 500 * time.Millisecond
	// horizon is how far ahead of their start chunks are given to a stream.
	horizon = 500 * time.Millisecond
	// minRate and maxRate bound a stream's rate, in bytes per second.
	minRate = 16 << 10
	maxRate = 1 << 30
)

// A pace is one stream and what the Spreader learned of it. Its fields other than stream, name
// and metrics are guarded by the Spreader's mutex.
type pace struct {
	stream         Stream
	name           string
	metrics        streamMetrics
	maxRecordBytes int // the bucket holds one such record at least

	rate      float64 // bytes per second
	capacity  float64 // most bytes the bucket holds
	tokens    float64 // bytes in the bucket at last; negative when chunks wait for bytes yet to come
	last      time.Time
	slowStart bool
	found     float64 // in slow start the rate before the last growth, then the rate found at the last cut
	epoch     uint64  // counts the cuts

	sent []sample // the chunks answered that started within measureWindow

	failures int
	retryAt  time.Time // while failing, the stream takes no chunk before this
	probing  bool      // a chunk is testing the failing stream
	backoff  backoff.Backoff
}

// A sample is the bytes one chunk sent, and when it started.
type sample struct {
	at    time.Time
	bytes int
}

func newPace(st Stream, o Options, m *metrics, now time.Time) *pace {
	p := &pace{
		stream:         st,
		name:           st.Name(),
		metrics:        m.stream(st.Name()),
		slowStart:      true,
		maxRecordBytes: o.Limits.MaxRecordBytes,
		last:           now,
		backoff:        backoff.Backoff{Base: o.RetryBase, Max: o.RetryMax},
	}
	p.setRate(float64(o.InitialRate))
	p.tokens = p.capacity
	return p
}

// setRate sets the rate and the bucket's capacity: burst's worth of the rate, and one record of
// the largest size at least.
func (p *pace) setRate(rate float64) {
	p.rate = min(maxRate, max(minRate, rate))
	p.capacity = max(p.rate*burst.Seconds(), float64(p.maxRecordBytes))
	p.tokens = min(p.tokens, p.capacity)
	p.metrics.rate.Set(p.rate)
}

// refill brings the bucket up to now.
func (p *pace) refill(now time.Time) {
	if elapsed := now.Sub(p.last); elapsed > 0 {
		p.tokens = min(p.capacity, p.tokens+elapsed.Seconds()*p.rate)
		p.last = now
	}
}

// offer returns the chunk the stream would take of records: as many as its bucket holds, within
// limits, one at least, and when it could start.
func (p *pace) offer(records [][]byte, limits upload.Limits, now time.Time) *chunk {
	p.refill(now)
	// A chunk holds a burst's worth of the rate, or one record when that is less.
	size := min(p.rate*burst.Seconds(), float64(limits.MaxBatchBytes))
	n, bytes := 0, 0
	for n < len(records) && n < limits.MaxRecords {
		if n > 0 && float64(bytes+len(records[n])) > size {
			break
		}
		bytes += len(records[n])
		n++
	}
	c := &chunk{pace: p, records: records[:n], bytes: bytes, start: p.schedule(bytes, now), epoch: p.epoch}
	c.waited = c.start.After(now)
	c.exclusive = p.failures > 0
	return c
}

// schedule returns when the bucket, up to date at now, holds bytes.
func (p *pace) schedule(bytes int, now time.Time) time.Time {
	short := float64(bytes) - p.tokens
	if short <= 0 {
		return now
	}
	return now.Add(time.Duration(short / p.rate * float64(time.Second)))
}

// take takes c's bytes from the bucket, which may go below zero: later chunks wait the longer.
func (p *pace) take(c *chunk) {
	p.tokens -= float64(c.bytes)
	if c.exclusive {
		p.probing = true
	}
}

// settle learns from the answer to c: results, or err. cancelled says the caller gave up, which
// says nothing of the stream. It returns the backoff when the stream failed.
func (p *pace) settle(c *chunk, results []upload.Result, err error, cancelled bool, now time.Time) (failing time.Duration) {
	if c.exclusive {
		p.probing = false
	}
	switch {
	case cancelled && results == nil:
		// Never sent, or cut short by the caller: its bytes were not used.
		p.tokens = min(p.capacity, p.tokens+float64(c.bytes))
		return 0
	case errors.Is(err, upload.ErrThrottled):
		p.healthy()
		p.record(c.start, now, c.bytes)
		p.throttled(c, now)
		return 0
	case errors.Is(err, upload.ErrBatchTooLarge):
		// The batch's fault, not the stream's.
		return 0
	case err != nil:
		p.tokens = min(p.capacity, p.tokens+float64(c.bytes))
		p.failures++
		wait := p.backoff.Next()
		p.retryAt = now.Add(wait)
		p.metrics.failed.Inc()
		p.metrics.backedOff.Set(1)
		return wait
	}
	p.healthy()
	throttled, records, bytes := false, 0, 0
	for i, r := range results {
		switch {
		case r.Delivered():
			records++
			bytes += len(c.records[i])
		case r.Throttled:
			throttled = true
		}
	}
	p.metrics.records.Add(float64(records))
	p.metrics.bytes.Add(float64(bytes))
	p.record(c.start, now, c.bytes)
	switch {
	case throttled:
		p.throttled(c, now)
	case c.waited && c.epoch == p.epoch:
		p.grow()
	}
	return 0
}

// healthy ends a failing stream's backoff.
func (p *pace) healthy() {
	if p.failures > 0 {
		p.failures = 0
		p.retryAt = time.Time{}
		p.backoff.Reset()
		p.metrics.backedOff.Set(0)
	}
}

// throttled cuts the rate after a throttling answer to c, once for the chunks given under the
// same rate.
func (p *pace) throttled(c *chunk, now time.Time) {
	p.metrics.throttled.Inc()
	if c.epoch != p.epoch {
		return
	}
	p.epoch++
	// In slow start the rate went past the quota since the last growth: the rate before it was
	// clean.
	base := p.rate
	if p.slowStart && p.found > 0 {
		base = p.found
	}
	if measured, ok := p.measured(now); ok && measured < base {
		base = measured
	}
	p.slowStart = false
	p.found = base
	p.setRate(base * cutFactor)
	// The service's bucket is empty now: so is this one.
	p.tokens = min(p.tokens, 0)
}

// grow raises the rate after a clean chunk that had to wait for the bucket.
func (p *pace) grow() {
	if p.slowStart {
		p.found = p.rate
		p.setRate(p.rate * slowStartGrowth)
		return
	}
	p.setRate(p.rate + max((p.found-p.rate)/recoverDivisor, p.found/probeDivisor))
}

// record counts the bytes of a chunk that started at start and was answered, for measured.
func (p *pace) record(start, now time.Time, bytes int) {
	p.sent = append(p.sent, sample{start, bytes})
	drop := 0
	for drop < len(p.sent) && now.Sub(p.sent[drop].at) > measureWindow {
		drop++
	}
	p.sent = p.sent[drop:]
}

// measured returns the rate the stream sent at, from the chunks answered that started within
// measureWindow: the bytes of all but the latest, over the time from the earliest start to the
// latest, when that spans measureLeast at least. Measured between starts, a stream that sends
// one chunk a second is measured at its rate, as it would not be from the earliest start until
// now; and it is measured at what it sent, throttled or not, as a throttle lowers what it stored
// but not the rate the service refused.
func (p *pace) measured(now time.Time) (float64, bool) {
	var first, last sample
	total := 0
	for _, s := range p.sent {
		if now.Sub(s.at) > measureWindow {
			continue
		}
		total += s.bytes
		if first.at.IsZero() || s.at.Before(first.at) {
			first = s
		}
		if s.at.After(last.at) {
			last = s
		}
	}
	span := last.at.Sub(first.at)
	if first.at.IsZero() || span < measureLeast {
		return 0, false
	}
	return float64(total-last.bytes) / span.Seconds(), true
}
