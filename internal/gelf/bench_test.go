package gelf

import (
	"encoding/json"
	"testing"
)

// Sinks keep the compiler from discarding benchmarked work.
var (
	benchMessage []byte
	benchValid   bool
)

func BenchmarkAdd(b *testing.B) {
	msg := gelfJSON(1000)
	large := gelfJSON(16_000)
	tests := []struct {
		name      string
		msg       []byte
		datagrams [][]byte
	}{
		{name: "plain-1KB", msg: msg, datagrams: [][]byte{msg}},
		{name: "gzip-1KB", msg: msg, datagrams: [][]byte{gzipped(b, msg)}},
		{name: "zlib-1KB", msg: msg, datagrams: [][]byte{zlibbed(b, msg, 6)}},
		{name: "chunked-plain-16KB", msg: large, datagrams: split(1, large, 12)},
		{name: "chunked-gzip-16KB", msg: large, datagrams: split(1, gzipped(b, large), 2)},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			a := NewAssembler(Options{})
			dst := make([]byte, 0, 64<<10)
			b.SetBytes(int64(len(tt.msg)))
			b.ReportAllocs()
			for b.Loop() {
				for _, d := range tt.datagrams {
					msg, err := a.Add(sourceA, d, t0, dst)
					if err != nil {
						b.Fatal(err)
					}
					benchMessage = msg
				}
			}
		})
	}
}

// BenchmarkStamp measures the Stamper, and encoding/json doing the same work for comparison:
// Valid alone (which would still need a second pass to find the member), and Unmarshal of the
// top-level members.
func BenchmarkStamp(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"300B", 300}, {"2KB", 2000}, {"64KB", 64 << 10}} {
		msg := gelfJSON(size.bytes)
		b.Run("stamper-"+size.name, func(b *testing.B) {
			s := NewStamper(StamperOptions{})
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				ts, _ := s.Stamp(nil, msg, received, "192.0.2.1")
				benchValid = ts.IsZero()
			}
		})
		b.Run("json-valid-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				benchValid = json.Valid(msg)
			}
		})
		b.Run("json-unmarshal-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				var v struct {
					Timestamp json.Number `json:"timestamp"`
				}
				benchValid = json.Unmarshal(msg, &v) == nil
			}
		})
	}
}
