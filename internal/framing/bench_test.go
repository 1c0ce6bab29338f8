package framing

import (
	"fmt"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// benchBytes keeps the benchmarks' results alive.
var benchBytes int

// BenchmarkScanner frames an endless stream of distinct 200-byte RFC 5424 messages, read in
// TCP-segment-sized and in large reads. Bytes per second count the framing as well.
func BenchmarkScanner(b *testing.B) {
	msgs := rfc5424Messages(1000)
	framings := []struct {
		name   string
		stream []byte
	}{
		{"octet-counted", octetCounted(msgs)},
		{"LF", terminated(msgs, "\n")},
		{"CRLF", terminated(msgs, "\r\n")},
		{"NUL", terminated(msgs, "\x00")},
	}
	for _, fr := range framings {
		for _, readBytes := range []int{1460, 64 * 1024} {
			b.Run(fmt.Sprintf("%s/read=%d", fr.name, readBytes), func(b *testing.B) {
				s := NewScanner(&testenv.RepeatReader{Data: fr.stream, Chunk: readBytes}, 0)
				b.SetBytes(int64(len(fr.stream) / len(msgs)))
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if !s.Scan() {
						b.Fatalf("Scan() = false, Err() = %v", s.Err())
					}
					n += len(s.Message())
				}
				benchBytes = n
			})
		}
	}
}
