package gelf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// fuzzOptions are small bounds, so that the fuzzer reaches them.
var fuzzOptions = Options{MaxMessageBytes: 4096, MaxPendingBytes: 64 << 10, Expiry: time.Second}

// datagrams encodes a sequence of datagrams for FuzzAdd: each is a 2-byte length, a byte whose
// low two bits choose the sender and whose other bits advance the clock by that many tenths of
// a second, and the datagram.
func datagrams(sender byte, ds ...[]byte) []byte {
	var b []byte
	for _, d := range ds {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
		b = append(b, sender)
		b = append(b, d...)
	}
	return b
}

func FuzzAdd(f *testing.F) {
	msg := gelfJSON(3000)
	gz, zl := gzipped(f, msg), zlibbed(f, msg, 6)
	f.Add(datagrams(0, msg))
	f.Add(datagrams(0, gz))
	f.Add(datagrams(0, zl))
	f.Add(datagrams(0, split(1, gz, 3)...))
	f.Add(datagrams(0, split(1, zl, 5)[3], split(1, zl, 5)[0], split(1, zl, 5)[1]))
	f.Add(datagrams(1, split(1, msg, 4)...))
	f.Add(append(datagrams(0, split(2, gz, 2)[0]), datagrams(1<<2|1, split(2, gz, 2)[1])...))
	f.Add(datagrams(10<<2, chunk(1, 0, 2, msg), chunk(1, 1, 2, msg)))
	f.Add(datagrams(0, chunk(1, 0, 129, msg), chunk(1, 3, 3, nil), chunk(1, 0, 0, nil)))
	f.Add(datagrams(0, gzipped(f, bytes.Repeat([]byte{'a'}, 1<<20))))

	f.Fuzz(func(t *testing.T, data []byte) {
		a := NewAssembler(fuzzOptions)
		now := t0
		for len(data) >= 3 {
			n := min(int(binary.BigEndian.Uint16(data)), len(data)-3)
			src := netip.AddrPortFrom(sourceA.Addr(), uint16(data[2]&3))
			now = now.Add(time.Duration(data[2]>>2) * 100 * time.Millisecond)
			d := data[3 : 3+n]
			data = data[3+n:]

			msg, err := a.Add(src, d, now, nil)
			if err != nil && !isSentinel(err) {
				t.Fatalf("Add error %v wraps none of the package's errors", err)
			}
			if err != nil && msg != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Add returned %d bytes with error %v", len(msg), err)
			}
			if len(msg) > fuzzOptions.MaxMessageBytes {
				t.Fatalf("Add returned %d bytes, more than the maximum %d", len(msg), fuzzOptions.MaxMessageBytes)
			}
			sets, bytes := a.stats()
			if bytes > fuzzOptions.MaxPendingBytes || bytes < sets*setOverheadBytes {
				t.Fatalf("%d pending sets account for %d bytes; maximum %d", sets, bytes, fuzzOptions.MaxPendingBytes)
			}
		}
		a.Sweep(now.Add(fuzzOptions.Expiry))
		a.Sweep(now.Add(fuzzOptions.Expiry)) // lets go the memory of the sets the first dropped
		if sets, bytes := a.stats(); sets != 0 || bytes != 0 {
			t.Fatalf("after expiry %d sets hold %d bytes, want none", sets, bytes)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrBadChunk, ErrTooManyChunks, ErrTooLarge, ErrDecompress, ErrEmpty} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzAddRoundTrip checks that any payload, compressed or not, cut into any number of chunks
// sent in any order with duplicates, comes out whole.
func FuzzAddRoundTrip(f *testing.F) {
	f.Add([]byte(`{"short_message":"hello"}`), uint8(0), uint8(3), uint64(1))
	f.Add(gelfJSON(3000), uint8(1), uint8(128), uint64(2))
	f.Add([]byte("x"), uint8(2), uint8(1), uint64(3))
	f.Fuzz(func(t *testing.T, payload []byte, compression, n uint8, seed uint64) {
		if len(payload) == 0 || len(payload) > 64<<10 || onlyLineEnds(payload) {
			return // none is a message: nothing but line ends is refused as empty (TestAddPayloads)
		}
		wire := payload
		switch compression % 3 {
		case 1:
			wire = gzipped(t, payload)
		case 2:
			wire = zlibbed(t, payload, 6)
		default:
			if len(payload) >= 2 && (payload[0] == 0x1f && payload[1] == 0x8b || isZlibHeader(payload[0], payload[1])) {
				return // a plain payload that starts like a compressed one is compressed
			}
		}
		count := int(n)%MaxChunks + 1
		chunks := split(seed, wire, count)
		rng := rand.New(rand.NewPCG(seed, 0))
		rng.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
		if count > 1 { // a duplicate of a chunk that is not the last to arrive
			dup := rng.IntN(count - 1)
			chunks = append(chunks[:dup+1], chunks[dup:]...)
		}

		a := NewAssembler(Options{})
		var got []byte
		for i, c := range chunks {
			msg, err := a.Add(sourceA, c, t0, nil)
			if err != nil {
				t.Fatalf("chunk %d of %d: %v", i, len(chunks), err)
			}
			if msg != nil && i != len(chunks)-1 {
				t.Fatalf("message complete after %d of %d chunks", i+1, len(chunks))
			}
			got = msg
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("reassembled %d bytes, want the %d-byte payload", len(got), len(payload))
		}
	})
}

// jsonNumber is RFC 8259's number grammar, the reference for string-valued stamps.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// FuzzStamp checks the hand-written scanner against encoding/json: it must accept exactly the
// JSON objects that encoding/json accepts, and find the same "timestamp" member, whose value it
// must read exactly as math/big does.
func FuzzStamp(f *testing.F) {
	for _, s := range []string{
		`{"version":"1.1","host":"h","short_message":"m","timestamp":1700000000.123}`,
		`{"timestamp":"1700000000.5","_fields":{"timestamp":1}}`,
		`{"time\u0073tamp":1.7e9,"a":[1,{"b":null}],"c":"\"}"}`,
		`{"timestamp":1e-7}`,
		`{"timestamp":-1}`,
		`{"timestamp":253402300800}`,
		`[1,2]`,
		`{"a":"\ud800"}`,
		`{"a":1}x`,
		" {\"a\":[ true , false ]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := NewStamper(StamperOptions{})
		got, out := s.Stamp(nil, msg, received, "192.0.2.1")
		if out != nil {
			t.Fatalf("Stamp rewrote the message")
		}

		i := skipSpace(msg, 0)
		wantValid := json.Valid(msg) && i < len(msg) && msg[i] == '{'
		if _, valid := scanObject(msg); valid != wantValid {
			t.Fatalf("scanObject(%q) valid = %t, encoding/json says %t", msg, valid, wantValid)
		}
		if !wantValid {
			if !got.Equal(received) {
				t.Fatalf("Stamp(%q) = %v for a message that is not a JSON object", msg, got)
			}
			return
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(msg, &members); err != nil {
			t.Fatalf("encoding/json accepted %q but cannot decode it: %v", msg, err)
		}
		want, ok := referenceTimestamp(members["timestamp"])
		if !ok {
			return // the reference declines numbers with huge exponents
		}
		if !got.Equal(want) {
			t.Fatalf("Stamp(%q) = %v (%d.%09d), want %v", msg, got.UTC(), got.Unix(), got.Nanosecond(), want.UTC())
		}
	})
}

// referenceTimestamp reads raw as the Stamper documents, through math/big. It reports false for
// exponents too large for big.Rat to expand quickly.
func referenceTimestamp(raw json.RawMessage) (time.Time, bool) {
	if raw == nil {
		return received, true
	}
	num := string(raw)
	if raw[0] == '"' {
		if bytes.IndexByte(raw, '\\') >= 0 {
			return received, true
		}
		num = num[1 : len(num)-1]
	}
	if !jsonNumber.MatchString(num) {
		return received, true
	}
	if e := bytes.IndexAny([]byte(num), "eE"); e >= 0 {
		if exp, err := strconv.Atoi(num[e+1:]); err != nil || exp > 1000 || exp < -1000 {
			return time.Time{}, false
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		panic("big.Rat rejects JSON number " + num)
	}
	if r.Sign() < 0 || r.Cmp(new(big.Rat).SetInt64(maxUnixSeconds+1)) >= 0 {
		return received, true
	}
	nanos := new(big.Int).Quo(new(big.Int).Mul(r.Num(), big.NewInt(1e9)), r.Denom()) // floor: r >= 0
	sec, nsec := new(big.Int).QuoRem(nanos, big.NewInt(1e9), new(big.Int))
	return time.Unix(sec.Int64(), nsec.Int64()), true
}
