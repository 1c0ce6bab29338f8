package record

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Record is one decoded record: the CloudWatch Logs subscription shape.
type Record struct {
	Owner               string   `json:"owner"`
	LogGroup            string   `json:"logGroup"`
	LogStream           string   `json:"logStream"`
	SubscriptionFilters []string `json:"subscriptionFilters"`
	MessageType         string   `json:"messageType"`
	LogEvents           []Event  `json:"logEvents"`
}

// Event is one log event of a Record.
type Event struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// Reader decodes records from a stream of concatenated gzip members, as found in a spool file or
// in an object Firehose delivered to S3. It is not safe for concurrent use.
type Reader struct {
	br *bufio.Reader
	zr *gzip.Reader
}

// NewReader returns a Reader of the records in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r)}
}

// Next decodes the next record. It returns io.EOF after the last one.
func (r *Reader) Next() (*Record, error) {
	if _, err := r.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("record: read: %w", err)
	}
	if r.zr == nil {
		zr, err := gzip.NewReader(r.br)
		if err != nil {
			return nil, fmt.Errorf("record: gzip header: %w", err)
		}
		r.zr = zr
	} else if err := r.zr.Reset(r.br); err != nil {
		return nil, fmt.Errorf("record: gzip header: %w", err)
	}
	// Each member is one record: stop the reader at the member's end.
	r.zr.Multistream(false)
	var rec Record
	dec := json.NewDecoder(r.zr)
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("record: decode JSON: %w", err)
	}
	if _, err := io.Copy(io.Discard, r.zr); err != nil {
		return nil, fmt.Errorf("record: gzip member: %w", err)
	}
	return &rec, nil
}
