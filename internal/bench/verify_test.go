package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// delivery is what a receiver under test delivers: the messages gen made for (stream, seq), in
// order, each possibly changed by edit.
type delivery struct {
	gen  Generator
	msgs [][]byte
}

func (d *delivery) add(stream, seq int) *delivery {
	d.msgs = append(d.msgs, d.gen.Append(nil, stream, seq))
	return d
}

func (d *delivery) raw(msg string) *delivery {
	d.msgs = append(d.msgs, []byte(msg))
	return d
}

// records encodes the messages as the relay's records: two, when there are two messages or more.
func (d *delivery) records(t *testing.T) []byte {
	t.Helper()
	var ev record.Events
	for i, m := range d.msgs {
		ev.Data = record.AppendEvent(ev.Data, record.UUID{byte(i)}, 1, m)
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	var out []byte
	enc := record.NewEncoder()
	// Two calls, so that the output holds several gzip members.
	parts := []record.Events{ev}
	if n := ev.Len() / 2; n > 0 {
		parts = []record.Events{{Data: ev.Data[:ev.Ends[n-1]], Ends: ev.Ends[:n]}, ev.Tail(n)}
	}
	for _, part := range parts {
		_, _, err := enc.Encode(record.Header{Owner: "000000000000", LogGroup: "/g", LogStream: "127.0.0.1"}, part, false,
			func(rec []byte) error { out = append(out, rec...); return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// lines writes the messages as the rsyslog configuration of this package does.
func (d *delivery) lines(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, m := range d.msgs {
		b, err := json.Marshal(lineEvent{Message: string(m)})
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(append(b, '\n'))
	}
	zw.Close()
	return buf.Bytes()
}

func TestVerifier(t *testing.T) {
	gen := Generator{Run: 5, Format: RFC5424, MinBytes: 150, MaxBytes: 300, Base: testBase}
	other := gen
	other.Run = 6
	corrupt := gen.Append(nil, 1, 2)
	corrupt[len(corrupt)-1] ^= 1
	tests := []struct {
		name     string
		counts   []int
		delivery *delivery
		want     Report
	}{
		{
			name:     "all once",
			counts:   []int{2, 1},
			delivery: (&delivery{gen: gen}).add(0, 0).add(1, 0).add(0, 1),
			want:     Report{Expected: 3, Delivered: 3},
		},
		{
			name:     "lost and duplicated",
			counts:   []int{3},
			delivery: (&delivery{gen: gen}).add(0, 0).add(0, 2).add(0, 2).add(0, 2),
			want:     Report{Expected: 3, Delivered: 2, Lost: 1, Duplicated: 2},
		},
		{
			name:   "corrupt and foreign",
			counts: []int{1, 3},
			delivery: (&delivery{gen: gen}).add(0, 0).raw(string(corrupt)).add(1, 0).add(1, 1).
				raw("no token at all").raw(string(other.Append(nil, 0, 0))).add(2, 0).add(1, 3),
			want: Report{Expected: 4, Delivered: 3, Lost: 1, Corrupt: 1, Foreign: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/records", func(t *testing.T) {
			v := NewVerifier(gen, tt.counts)
			var st RecordStats
			data := tt.delivery.records(t)
			if err := v.Records(bytes.NewReader(data), &st); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, v.Report()); diff != "" {
				t.Errorf("Report (-want +got):\n%s", diff)
			}
			if st.Records != 2 || st.Bytes != int64(len(data)) || st.Oversize != 0 || st.RawBytes <= st.Bytes {
				t.Errorf("RecordStats = %+v, want 2 records of %d bytes in all", st, len(data))
			}
			if tt.want.OK() != v.Report().OK() {
				t.Errorf("OK() = %v, want %v", v.Report().OK(), tt.want.OK())
			}
		})
		t.Run(tt.name+"/lines", func(t *testing.T) {
			v := NewVerifier(gen, tt.counts)
			if _, err := v.Lines(bytes.NewReader(tt.delivery.lines(t))); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, v.Report()); diff != "" {
				t.Errorf("Report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifierRecordDir(t *testing.T) {
	gen := Generator{Run: 5, Format: RFC3164, MinBytes: 100, MaxBytes: 2048, Base: testBase}
	d := &delivery{gen: gen}
	for seq := range 50 {
		d.add(0, seq)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"2026/02/21/21/stream-1": d.records(t),
		"2026/02/21/21/.partial": []byte("not a record: objects being written are hidden"),
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := NewVerifier(gen, []int{50})
	st, err := v.RecordDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Report(); !r.OK() || st.Records != 2 {
		t.Errorf("RecordDir: %v, %d records; want all 50 delivered in 2 records", r, st.Records)
	}
}

func TestVerifierErrors(t *testing.T) {
	gen := Generator{Run: 5, Format: RFC5424, MinBytes: 200, MaxBytes: 200, Base: testBase}
	good := (&delivery{gen: gen}).add(0, 0).records(t)
	tests := []struct {
		name string
		data []byte
	}{
		{name: "not gzip", data: []byte("plain text")},
		{name: "cut short", data: good[:len(good)-10]},
		{name: "not JSON", data: gzipped("{not json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st RecordStats
			if err := NewVerifier(gen, []int{1}).Records(bytes.NewReader(tt.data), &st); err == nil {
				t.Error("Records = nil, want an error")
			}
			if _, err := NewVerifier(gen, []int{1}).Lines(bytes.NewReader(tt.data)); err == nil && tt.name != "not JSON" {
				t.Error("Lines = nil, want an error")
			}
		})
	}
}

func gzipped(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprint(zw, s)
	zw.Close()
	return buf.Bytes()
}
