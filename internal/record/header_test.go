package record

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// encodeOne returns the first record the Encoder makes of events under h.
func encodeOne(t testing.TB, h Header, ev Events) []byte {
	t.Helper()
	var first []byte
	_, _, err := NewEncoder().Encode(h, ev, false, func(rec []byte) error {
		if first == nil {
			first = bytes.Clone(rec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// gzipped compresses s into one gzip member.
func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadHeader(t *testing.T) {
	one := events(1, func(int) []byte { return []byte("hello") })
	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		want    Header
		wantErr bool
	}{
		{name: "record", data: func(t *testing.T) []byte {
			return encodeOne(t, Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}, one)
		}, want: Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}},
		{name: "escaped", data: func(t *testing.T) []byte {
			return encodeOne(t, Header{Owner: "000000000000", LogGroup: `/a"b\c/gelf/12201`, LogStream: "::1"}, one)
		}, want: Header{Owner: "000000000000", LogGroup: `/a"b\c/gelf/12201`, LogStream: "::1"}},
		{name: "a full record", data: func(t *testing.T) []byte {
			many := events(20000, func(i int) []byte { return []byte(strings.Repeat("x", i%300)) })
			return encodeOne(t, Header{Owner: "123456789012", LogGroup: "/g/syslog/1", LogStream: "192.0.2.1"}, many)
		}, want: Header{Owner: "123456789012", LogGroup: "/g/syslog/1", LogStream: "192.0.2.1"}},
		{name: "not gzip", data: func(*testing.T) []byte { return []byte("plain") }, wantErr: true},
		{name: "empty", data: func(*testing.T) []byte { return nil }, wantErr: true},
		{name: "not an object", data: func(t *testing.T) []byte { return gzipped(t, `["owner"]`) }, wantErr: true},
		{name: "fields in another order", data: func(t *testing.T) []byte {
			return gzipped(t, `{"logGroup":"g","owner":"1","logStream":"s"}`)
		}, wantErr: true},
		{name: "not a string", data: func(t *testing.T) []byte {
			return gzipped(t, `{"owner":"1","logGroup":7,"logStream":"s"}`)
		}, wantErr: true},
		{name: "cut short", data: func(t *testing.T) []byte { return gzipped(t, `{"owner":"1","logGroup":"g"`) }, wantErr: true},
		{name: "header past the bound", data: func(t *testing.T) []byte {
			return gzipped(t, `{"owner":"1","logGroup":"`+strings.Repeat("g", maxHeaderBytes)+`","logStream":"s"}`)
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			got, err := ReadHeader(data)
			if tt.wantErr {
				if !errors.Is(err, ErrNotRecord) {
					t.Errorf("ReadHeader() = %+v, %v; want an error wrapping ErrNotRecord", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ReadHeader() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzReadHeader checks that ReadHeader never panics on any bytes, and that it reads back the
// header of every record the Encoder makes.
func FuzzReadHeader(f *testing.F) {
	one := events(1, func(int) []byte { return []byte("hello") })
	f.Add([]byte("123456789012"), []byte("/kinesyslog/syslog/514"), []byte("10.0.0.5"), encodeOne(f, Header{Owner: "1", LogGroup: "g", LogStream: "s"}, one))
	f.Add([]byte(""), []byte(`"\`), []byte("\xff\x00"), gzipped(f, `{"owner":"1","logGroup":`))
	f.Fuzz(func(t *testing.T, owner, group, stream, data []byte) {
		ReadHeader(data) // must not panic
		h := Header{Owner: string(owner), LogGroup: string(group), LogStream: string(stream)}
		got, err := ReadHeader(encodeOne(t, h, one))
		if err != nil {
			t.Fatalf("ReadHeader(an encoded record of %+v) = %v", h, err)
		}
		// The Encoder spells bytes that are not UTF-8 \xNN, as it does in messages.
		want := Header{Owner: recorded(owner), LogGroup: recorded(group), LogStream: recorded(stream)}
		if got != want {
			t.Errorf("ReadHeader(an encoded record of %+v) = %+v, want %+v", h, got, want)
		}
	})
}
