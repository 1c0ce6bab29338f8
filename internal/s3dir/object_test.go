package s3dir

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	created := time.Date(2026, 11, 25, 2, 34, 55, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		wantOK bool
	}{
		{name: "made by objectName", in: objectName(DefaultStreamName, created), wantOK: true},
		{name: "hyphens in the stream name", in: objectName("my-log-stream", created), wantOK: true},
		{name: "example", in: testName, wantOK: true},
		{name: "empty", in: ""},
		{name: "version 7", in: strings.Replace(testName, "-1-", "-7-", 1), wantOK: true},
		{name: "no stream and version", in: strings.TrimPrefix(testName, "kinesyslog-1")},
		{name: "no stream", in: strings.TrimPrefix(testName, "kinesyslog")},
		{name: "no version", in: strings.Replace(testName, "-1-", "-", 1)},
		{name: "version not a number", in: strings.Replace(testName, "-1-", "-v1-", 1)},
		{name: "sidecar", in: testName + commitSuffix},
		{name: "gz suffix", in: testName + ".gz"},
		{name: "bad uuid", in: strings.Replace(testName, "-4d1e-", "-4d1x-", 1)},
		{name: "bad time", in: strings.Replace(testName, "-25-02-", "-32-02-", 1)},
		{name: "lock", in: lockName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseName(tt.in)
			if ok != tt.wantOK || ok && !got.Equal(created) {
				t.Errorf("parseName(%q) = %v, %v; want %v, %v", tt.in, got, ok, created, tt.wantOK)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	f.Add(testName)
	f.Add(objectName("a", time.Unix(0, 0).UTC()))
	f.Add("-1-2026-11-25-02-34-55-0b7e3c9a-6f0c-4d1e-9a51-2f1c7a8e4b10")
	f.Fuzz(func(t *testing.T, name string) {
		created, ok := parseName(name)
		if !ok {
			return
		}
		// What parses names an object of the same second, under the same prefix.
		stream := name[:len(name)-len(objectName("", created))]
		if stream == "" {
			t.Fatalf("parseName(%q) accepted a name with no stream", name)
		}
		again, ok := parseName(objectName(stream, created))
		if !ok || !again.Equal(created) {
			t.Fatalf("parseName(objectName(%q, %v)) = %v, %v", stream, created, again, ok)
		}
	})
}

func TestDecodeCommitted(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want int64
	}{
		{name: "empty", in: nil, want: 0},
		{name: "zeros", in: make([]byte, slotCount*slotSize), want: 0},
		{name: "one commit", in: commits(5), want: 5},
		{name: "newest in slot 0", in: commits(5, 9), want: 9},
		{name: "newest in slot 1", in: commits(5, 9, 12), want: 12},
		{name: "short second slot", in: commits(5, 9, 12)[:slotCount*slotSize-1], want: 9},
		{name: "length past int64", in: func() []byte {
			b := commits(5)
			s := encodeSlot(2, 0)
			binary.BigEndian.PutUint64(s[8:], math.MaxUint64)
			binary.BigEndian.PutUint32(s[16:], crc32.Checksum(s[:16], castagnoli))
			copy(b, s[:])
			return b
		}(), want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeCommitted(tt.in); got != tt.want {
				t.Errorf("decodeCommitted(%x) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzDecodeCommitted checks the property crash recovery rests on: whatever a crash left in a
// sidecar, a newer commit written over one slot is the one read back.
func FuzzDecodeCommitted(f *testing.F) {
	f.Add(commits(5, 9), int64(12))
	f.Add(make([]byte, 3), int64(1))
	f.Add([]byte(strings.Repeat("\xff", 2*slotSize)), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, b []byte, length int64) {
		if got := decodeCommitted(b); got < 0 {
			t.Fatalf("decodeCommitted(%x) = %d < 0", b, got)
		}
		if length <= 0 {
			return
		}
		sidecar := make([]byte, slotCount*slotSize)
		copy(sidecar, b)
		var newest uint64
		for i := range slotCount {
			newest = max(newest, binary.BigEndian.Uint64(sidecar[i*slotSize:]))
		}
		if newest == math.MaxUint64 {
			return
		}
		seq := newest + 1
		slot := encodeSlot(seq, length)
		copy(sidecar[int(seq%slotCount)*slotSize:], slot[:])
		if got := decodeCommitted(sidecar); got != length {
			t.Fatalf("decodeCommitted after commit %d of %d over %x = %d", seq, length, b, got)
		}
	})
}
