package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// maxHeaderBytes bounds what ReadHeader decompresses: a record's header fields come first, and
// an owner, a log group and a log stream escaped six bytes to a character fit many times over.
const maxHeaderBytes = 64 << 10

// ReadHeader returns the owner, log group and log stream of one compressed record as the
// Encoder writes it (a gzip member holding the record's JSON), reading no further than the
// header: it decompresses at most 64 KiB whatever the record's size. It returns an error wrapping
// ErrNotRecord when the data is not gzip, or its JSON does not start with those three fields as
// strings.
func ReadHeader(data []byte) (Header, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return Header{}, fmt.Errorf("%w: gzip header: %w", ErrNotRecord, err)
	}
	zr.Multistream(false)
	dec := json.NewDecoder(io.LimitReader(zr, maxHeaderBytes))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Header{}, fmt.Errorf("%w: no JSON object", ErrNotRecord)
	}
	var h Header
	for _, field := range []struct {
		name string
		dst  *string
	}{{"owner", &h.Owner}, {"logGroup", &h.LogGroup}, {"logStream", &h.LogStream}} {
		if tok, err := dec.Token(); err != nil || tok != field.name {
			return Header{}, fmt.Errorf("%w: no %s where the header has it", ErrNotRecord, field.name)
		}
		tok, err := dec.Token()
		s, ok := tok.(string)
		if err != nil || !ok {
			return Header{}, fmt.Errorf("%w: %s is not a string", ErrNotRecord, field.name)
		}
		*field.dst = s
	}
	return h, nil
}
