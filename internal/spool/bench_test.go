package spool

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkWriteSmall spools small records, as many quiet or spoofed sources make them: one Write per
// record against WriteGroup of several, from as many goroutines as the relay has record
// workers on a small host. It reports records spooled a second.
func BenchmarkWriteSmall(b *testing.B) {
	record := make([]byte, 400)
	for i := range record {
		record[i] = byte(i)
	}
	for _, group := range []int{16, 256} {
		b.Run(fmt.Sprintf("groups of %d", group), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(record)))
			records := make([][]byte, group)
			for i := range records {
				records[i] = record
			}
			n := 0
			for n < b.N {
				if err := s.WriteGroup(context.Background(), records); err != nil {
					b.Fatal(err)
				}
				n += group
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("one by one/writers=%d", writers), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(record)))
			var wg sync.WaitGroup
			per := b.N/writers + 1
			for range writers {
				wg.Go(func() {
					for range per {
						if err := s.Write(context.Background(), record); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
