package testenv

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// Gzip returns content compressed as one gzip member, as a record or a GELF datagram is.
func Gzip(tb testing.TB, content string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(content)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
