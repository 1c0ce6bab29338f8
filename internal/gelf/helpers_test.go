package gelf

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"net/netip"
	"testing"
)

// The helpers compress with the standard library, not the package's decompressor's library, so
// that the tests check interoperability rather than a round trip through one implementation.

var (
	sourceA = netip.MustParseAddrPort("192.0.2.1:40000")
	sourceB = netip.MustParseAddrPort("192.0.2.2:40000")
)

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return buf.Bytes()
}

func zlibbed(t testing.TB, b []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatalf("zlib: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("zlib: %v", err)
	}
	return buf.Bytes()
}

// chunk returns the datagram of chunk seq of count of message id.
func chunk(id uint64, seq, count int, payload []byte) []byte {
	b := make([]byte, chunkHeaderBytes, chunkHeaderBytes+len(payload))
	b[0], b[1] = chunkMagic0, chunkMagic1
	binary.BigEndian.PutUint64(b[2:10], id)
	b[10], b[11] = byte(seq), byte(count)
	return append(b, payload...)
}

// split cuts payload into n chunks of message id, of nearly equal size.
func split(id uint64, payload []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		out[i] = chunk(id, i, n, payload[i*len(payload)/n:(i+1)*len(payload)/n])
	}
	return out
}

// gelfJSON returns a GELF message of about size bytes, padded with a full_message.
func gelfJSON(size int) []byte {
	head := `{"version":"1.1","host":"example.org","short_message":"A short message","timestamp":1385053862.3072,"level":1,"_user_id":9001,"full_message":"`
	b := []byte(head)
	for i := 0; len(b) < size-2; i++ {
		b = append(b, "Backtrace line "[i%15])
	}
	return append(b, `"}`...)
}
