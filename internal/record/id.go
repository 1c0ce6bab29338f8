package record

import (
	crand "crypto/rand"
	"encoding/binary"
)

// A UUID is a 128-bit identifier in the binary layout of RFC 9562; AppendEvent writes it in the
// canonical 36-character form.
type UUID [16]byte

// counterBits is the width of the counter of an IDs: rand_a (12 bits) and rand_b (62 bits) of
// RFC 9562 version 7, everything but the timestamp, version and variant.
const counterBits = 74

// IDs makes the event ids of one stream of events: RFC 9562 version 7 UUIDs, the 48-bit Unix
// time in milliseconds followed by a 74-bit counter that starts at a random value from the
// system's CSPRNG and goes up by one per id (the "monotonic random" counters of RFC 9562 §6.2).
//
// So each stream's ids are unique and, while the clock does not step back, increasing; two
// streams' ids collide only if, within the same millisecond, their counters, each started at a
// random one of 2^74 values, meet. And consecutive ids differ only in their last digits, which
// gzip codes as a match with the id before: random version 4 ids were over a quarter of a
// record's compressed bytes and a fifth of the compressor's time (BENCHMARKS.md). An IDs is not
// safe for concurrent use.
type IDs struct {
	high uint64 // the top counterBits-64 bits of the counter
	low  uint64
}

// NewIDs returns an IDs whose counter starts at a random value.
func NewIDs() *IDs {
	var seed [16]byte
	crand.Read(seed[:]) // never fails on Linux since Go 1.24; a failure would crash the program
	return &IDs{
		high: binary.BigEndian.Uint64(seed[:8]) & (1<<(counterBits-64) - 1),
		low:  binary.BigEndian.Uint64(seed[8:]),
	}
}

// Next returns the next id, stamped with unixMilli, milliseconds since the Unix epoch.
func (s *IDs) Next(unixMilli int64) UUID {
	high, low := s.high, s.low
	s.low++
	if s.low == 0 {
		s.high = (s.high + 1) & (1<<(counterBits-64) - 1)
	}
	// The counter's 74 bits are high (10 bits) and low (64 bits); rand_a takes the counter's top
	// 12 bits and rand_b its last 62.
	randA := high<<2 | low>>62
	var id UUID
	binary.BigEndian.PutUint64(id[:8], uint64(unixMilli)<<16|0x7000|randA)
	binary.BigEndian.PutUint64(id[8:], 0x8000_0000_0000_0000|low&(1<<62-1))
	return id
}
