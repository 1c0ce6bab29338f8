package record

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

func TestCheck(t *testing.T) {
	var encoded []byte
	h := Header{Owner: "123456789012", LogGroup: "/kinesyslog/syslog/514", LogStream: "10.0.0.5"}
	if _, _, err := NewEncoder().Encode(h, events(3, func(int) []byte { return []byte("hello") }), false, func(rec []byte) error {
		encoded = bytes.Clone(rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(encoded))
	if err != nil {
		t.Fatal(err)
	}
	good, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	const head = `{"owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["g"],"messageType":`
	tests := []struct {
		name string
		json string
		err  error // nil: a record
	}{
		{name: "the encoder's", json: string(good)},
		{name: "with whitespace around", json: " \n" + string(good) + "\n"},
		{name: "fields in another order", json: `{"logEvents":[{"id":"x","timestamp":1,"message":"m"}],"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["g"]}`},
		{name: "empty", json: "", err: ErrNotRecord},
		{name: "plain text", json: "hello world", err: ErrNotRecord},
		{name: "another JSON object", json: `{"version":"1.1","host":"h","short_message":"m"}`, err: ErrNotRecord},
		{name: "a JSON array", json: `[1,2,3]`, err: ErrNotRecord},
		{name: "control message", json: head + `"CONTROL_MESSAGE","logEvents":[{}]}`, err: ErrNotRecord},
		{name: "no events", json: head + `"DATA_MESSAGE","logEvents":[]}`, err: ErrNotRecord},
		{name: "events not objects", json: head + `"DATA_MESSAGE","logEvents":[1]}`, err: ErrNotRecord},
		{name: "no owner", json: strings.Replace(string(good), `"owner":"123456789012"`, `"owner":""`, 1), err: ErrNotRecord},
		{name: "cut short", json: string(good[:len(good)-10]), err: ErrNotRecord},
		{name: "two documents", json: string(good) + string(good), err: ErrNotRecord},
		{name: "trailing garbage", json: string(good) + "junk", err: ErrNotRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(strings.NewReader(tt.json))
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("Check(%.60q) = %v, want %v", tt.json, err, tt.err)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		err := Check(io.MultiReader(strings.NewReader(string(good[:20])), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) || errors.Is(err, ErrNotRecord) {
			t.Errorf("Check of a failing reader = %v, want %v only", err, boom)
		}
	})
}
