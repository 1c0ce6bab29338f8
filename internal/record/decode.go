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

// ErrNotRecord reports JSON that is not a record: not one JSON document, or not of the
// CloudWatch Logs subscription shape the Encoder writes.
var ErrNotRecord = errors.New("record: not a record")

// recordShape is what Check reads of a record: its header, and its events without their content.
type recordShape struct {
	Owner               string     `json:"owner"`
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	MessageType         string     `json:"messageType"`
	LogEvents           []struct{} `json:"logEvents"`
}

// Check reads r, the uncompressed content of one gzip member, to its end and reports whether it
// is one record as the Encoder writes it: a single JSON object with an owner, a log group, a log
// stream, a subscription filter, the message type DATA_MESSAGE and at least one event. It returns
// nil, an error wrapping ErrNotRecord, or the error of reading r. It allocates little whatever
// the size of the record: the events are checked to be JSON, not decoded.
func Check(r io.Reader) error {
	dec := json.NewDecoder(r)
	var rec recordShape
	if err := dec.Decode(&rec); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("%w: more than one JSON document", ErrNotRecord)
	} else if !errors.Is(err, io.EOF) {
		return jsonError(err)
	}
	switch {
	case rec.MessageType != messageType:
		return fmt.Errorf("%w: messageType %q, want %q", ErrNotRecord, rec.MessageType, messageType)
	case rec.Owner == "" || rec.LogGroup == "" || rec.LogStream == "" || len(rec.SubscriptionFilters) == 0:
		return fmt.Errorf("%w: no owner, logGroup, logStream or subscriptionFilters", ErrNotRecord)
	case len(rec.LogEvents) == 0:
		return fmt.Errorf("%w: no logEvents", ErrNotRecord)
	}
	return nil
}

// jsonError wraps an error of decoding JSON in ErrNotRecord, unless it is one of reading.
func jsonError(err error) error {
	_, syntax := errors.AsType[*json.SyntaxError](err)
	_, kind := errors.AsType[*json.UnmarshalTypeError](err)
	if syntax || kind || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrNotRecord, err)
	}
	return err
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
