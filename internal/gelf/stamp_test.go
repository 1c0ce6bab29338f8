package gelf

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinesyslog/kinesyslog/internal/event"
)

var _ event.Stamper = Stamper{}

var received = time.Date(2026, 2, 21, 21, 7, 50, 239881000, time.UTC)

func TestStamp(t *testing.T) {
	sec := func(s, ns int64) time.Time { return time.Unix(s, ns) }
	tests := []struct {
		name    string
		msg     string
		want    time.Time // zero: the receive time
		invalid bool
	}{
		{name: "integer", msg: `{"version":"1.1","host":"h","short_message":"m","timestamp":1700000000}`, want: sec(1700000000, 0)},
		{name: "fraction", msg: `{"timestamp":1385053862.3072,"host":"h"}`, want: sec(1385053862, 307200000)},
		{name: "milliseconds exact", msg: `{"timestamp":1700000000.123}`, want: sec(1700000000, 123000000)},
		{name: "nanoseconds", msg: `{"timestamp":1700000000.123456789}`, want: sec(1700000000, 123456789)},
		{name: "beyond nanoseconds truncated", msg: `{"timestamp":1700000000.1234567899}`, want: sec(1700000000, 123456789)},
		{name: "exponent", msg: `{"timestamp":1.7e9}`, want: sec(1700000000, 0)},
		{name: "exponent with fraction", msg: `{"timestamp":1.700000000123E+9}`, want: sec(1700000000, 123000000)},
		{name: "negative exponent", msg: `{"timestamp":1700000000123e-3}`, want: sec(1700000000, 123000000)},
		{name: "exponent leaves a fraction", msg: `{"timestamp":17000000001234e-4}`, want: sec(1700000000, 123400000)},
		{name: "below one second", msg: `{"timestamp":5e-1}`, want: sec(0, 500000000)},
		{name: "zero", msg: `{"timestamp":0}`, want: sec(0, 0)},
		{name: "negative zero", msg: `{"timestamp":-0.0e5}`, want: sec(0, 0)},
		{name: "last second of year 9999", msg: `{"timestamp":253402300799.5}`, want: sec(253402300799, 500000000)},
		{name: "string", msg: `{"timestamp":"1700000000.123"}`, want: sec(1700000000, 123000000)},
		{name: "escaped key", msg: `{"time\u0073tamp":1700000000}`, want: sec(1700000000, 0)},
		{name: "whitespace everywhere", msg: " \r\n\t{ \"timestamp\" :\t1700000000 , \"a\" : [ ] }\n ", want: sec(1700000000, 0)},
		{name: "last of duplicates", msg: `{"timestamp":1,"timestamp":1700000000}`, want: sec(1700000000, 0)},
		{name: "after nested objects", msg: `{"_a":{"b":[{"c":{}}],"d":"}"},"timestamp":1700000000,"_e":[[],[1,{"timestamp":5}]]}`, want: sec(1700000000, 0)},
		{name: "object value", msg: `{"timestamp":{"seconds":1700000000}}`},
		{name: "missing", msg: `{"version":"1.1","host":"h","short_message":"m"}`},
		{name: "empty object", msg: `{}`},
		{name: "nested only", msg: `{"_fields":{"timestamp":1700000000}}`},
		{name: "in an array", msg: `{"_list":["timestamp",1700000000]}`},
		{name: "in a string", msg: `{"short_message":"\"timestamp\":1700000000"}`},
		{name: "as a value", msg: `{"_key":"timestamp","_v":1700000000}`},
		{name: "key prefix", msg: `{"timestamps":1700000000,"_timestamp":1700000000}`},
		{name: "key in other case", msg: `{"Timestamp":1700000000}`},
		{name: "null", msg: `{"timestamp":null}`},
		{name: "boolean", msg: `{"timestamp":true}`},
		{name: "negative", msg: `{"timestamp":-1700000000}`},
		{name: "after year 9999", msg: `{"timestamp":253402300800}`},
		{name: "milliseconds by mistake", msg: `{"timestamp":1700000000123}`},
		{name: "huge exponent", msg: `{"timestamp":1e999999999999}`},
		{name: "tiny exponent", msg: `{"timestamp":1e-999999999999}`, want: sec(0, 0)},
		{name: "date string", msg: `{"timestamp":"2026-02-21T21:07:50Z"}`},
		{name: "string with spaces", msg: `{"timestamp":" 1700000000"}`},
		{name: "string not a JSON number", msg: `{"timestamp":"+1700000000"}`},
		{name: "empty string", msg: `{"timestamp":""}`},
		{name: "escaped digit in string", msg: `{"timestamp":"\u0031700000000"}`},
		{name: "not JSON", msg: `<13>Feb 21 21:07:50 host app: {"timestamp":1700000000}`, invalid: true},
		{name: "empty", msg: ``, invalid: true},
		{name: "array", msg: `[{"timestamp":1700000000}]`, invalid: true},
		{name: "string at top", msg: `"timestamp"`, invalid: true},
		{name: "truncated", msg: `{"timestamp":1700000000,"short_message":"cut here`, invalid: true},
		{name: "unclosed nested", msg: `{"timestamp":1700000000,"_a":{"b":1}`, invalid: true},
		{name: "trailing garbage", msg: `{"timestamp":1700000000}x`, invalid: true},
		{name: "two objects", msg: `{"timestamp":1700000000}{}`, invalid: true},
		{name: "trailing comma", msg: `{"timestamp":1700000000,}`, invalid: true},
		{name: "leading zero", msg: `{"timestamp":01700000000}`, invalid: true},
		{name: "bare fraction", msg: `{"timestamp":1700000000.}`, invalid: true},
		{name: "single quotes", msg: `{'timestamp':1700000000}`, invalid: true},
		{name: "bad escape", msg: `{"timestamp":1700000000,"a":"\x"}`, invalid: true},
		{name: "raw newline in string", msg: "{\"timestamp\":1700000000,\"a\":\"line\nline\"}", invalid: true},
		{name: "mismatched brackets", msg: `{"timestamp":1700000000,"a":[}]}`, invalid: true},
		{name: "too deep", msg: `{"a":` + strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth) + `}`, invalid: true},
		{name: "deepest allowed", msg: `{"timestamp":1700000000,"a":` + strings.Repeat("[", maxNestingDepth-1) + strings.Repeat("]", maxNestingDepth-1) + `}`, want: sec(1700000000, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStamper(StamperOptions{})
			got, out := s.Stamp(nil, []byte(tt.msg), received, "192.0.2.1")
			want := tt.want
			if want.IsZero() {
				want = received
			}
			if !got.Equal(want) {
				t.Errorf("Stamp(%.80q) = %v, want %v", tt.msg, got.UTC(), want.UTC())
			}
			if out != nil {
				t.Errorf("Stamp(%.80q) out = %q, want nil: GELF is recorded as received", tt.msg, out)
			}
			if n := testutil.ToFloat64(s.Invalid); n != map[bool]float64{true: 1}[tt.invalid] {
				t.Errorf("Stamp(%.80q) counted %v invalid messages, want invalid %t", tt.msg, n, tt.invalid)
			}
		})
	}
}

func TestStamperZeroValue(t *testing.T) {
	var s Stamper
	if got, _ := s.Stamp(nil, []byte("not json"), received, ""); !got.Equal(received) {
		t.Errorf("zero Stamper: Stamp = %v, want the receive time", got)
	}
}

func TestNewStamperRegisters(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewStamper(StamperOptions{Registerer: reg})
	s.Stamp(nil, []byte("not json"), received, "")
	if n, err := testutil.GatherAndCount(reg, "kinesyslog_gelf_invalid_messages_total"); err != nil || n != 1 {
		t.Errorf("registered invalid-message counter: %d series, %v", n, err)
	}
}

func TestStampAllocations(t *testing.T) {
	msg := gelfJSON(2000)
	s := NewStamper(StamperOptions{})
	allocs := testing.AllocsPerRun(100, func() {
		s.Stamp(nil, msg, received, "192.0.2.1")
	})
	if allocs > 0 {
		t.Errorf("Stamp allocated %.1f times per message", allocs)
	}
}
