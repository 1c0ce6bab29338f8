package record

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// TargetBytes is the most compressed bytes an Encoder puts in one record. Firehose takes records
// of up to 1,024,000 bytes (its destination's Limits.MaxRecordBytes), but one PutRecordBatch call
// carries at most 4,000,000 bytes: at 1,000,000 bytes four full records still fit in one call,
// where four records at the service's limit would not and every fourth would wait for a call of
// its own. Firehose bills each record rounded up to 5 KB, so records packed close to this target
// cost the least.
const TargetBytes = 1_000_000

// CompressionLevel is the gzip level of records: level 2 of klauspost/compress. On the JSON events
// of 200-byte syslog messages (bench.BenchmarkGzip) it takes the CPU of its level 1, about 1 us
// per event, for a 4% better ratio (3.9 against 3.75); the standard library takes twice that CPU
// at level 1 for 3.6, and four times at level 6 for 4.3. The relay's budget is CPU per message,
// and Firehose bills the bytes of records: level 2 spends the one no more and saves on the other.
const CompressionLevel = 2

// gzipOverheadBytes covers the gzip header and trailer and the final empty deflate block.
const gzipOverheadBytes = 10 + 8 + 16

// tailFill is the compressed size below which the rest of a batch is not expected to fill a
// record: records hold 98 to 100% of TargetBytes, so a rest expected at 95% is not worth
// compressing to find out. Should it compress better than expected, it is only encoded later,
// in front of newer events.
const tailFill = 0.95 * TargetBytes

// stageBytes is how much an Encoder gathers before it writes to the compressor. Each Write costs
// the compressor a call and its bookkeeping whatever its size: a Write per event and one per comma
// took 7% more time than staged writes to compress 250-byte events (BenchmarkEncode).
const stageBytes = 32 << 10

// suffix closes a record's events and the record.
const suffix = "]}"

// messageType is the messageType of every record: CloudWatch Logs' type of records that carry
// log events.
const messageType = "DATA_MESSAGE"

// errRecordTooLarge reports a broken size invariant; it never reaches a caller in practice.
var errRecordTooLarge = errors.New("record: encoded record exceeds the record limit")

// Header is what every record of one stream of events shares.
type Header struct {
	Owner     string // AWS account ID, the record's "owner"
	LogGroup  string // "<prefix>/<format>/<port>", also the only subscription filter
	LogStream string // the sender's IP address
}

// Stats describes what one Encode call produced.
type Stats struct {
	Events      int // events encoded
	Records     int // records emitted
	RawBytes    int // JSON bytes before compression
	RecordBytes int // compressed bytes emitted
}

// BufferBytes is the capacity of the buffers an Encoder compresses records into: a record and what
// the compressor may write past TargetBytes before the Encoder checks it.
const BufferBytes = TargetBytes + 64<<10

// An Encoder turns batches of JSON events into gzip-compressed records in the CloudWatch Logs
// subscription shape, each at most TargetBytes. Its zero value is not usable: call NewEncoder or
// NewEncoderFrom. An Encoder holds a compressor and is not safe for concurrent use: use one per
// goroutine.
type Encoder struct {
	out   recordBuffer
	zw    *gzip.Writer
	stage []byte        // JSON not yet written to zw
	get   func() []byte // the buffers of records handed over to emit; nil: out is reused
}

// NewEncoder returns an Encoder that compresses every record into the same buffer: the record it
// passes to emit is only valid during the call.
func NewEncoder() *Encoder {
	e := NewEncoderFrom(nil)
	e.out.b = make([]byte, 0, BufferBytes)
	return e
}

// NewEncoderFrom returns an Encoder that hands each record over to emit: the record emit receives
// is emit's from then on, and the Encoder compresses the next one into another buffer, which get
// gives, as a free list the caller returns used records to. get returns a buffer whose contents
// may be overwritten, or nil when it has none; the Encoder allocates one of BufferBytes when it
// gets nil or a smaller one.
func NewEncoderFrom(get func() []byte) *Encoder {
	zw, err := gzip.NewWriterLevel(nil, CompressionLevel)
	if err != nil {
		panic(err) // CompressionLevel is a valid constant
	}
	return &Encoder{zw: zw, stage: make([]byte, 0, stageBytes+64*1024), get: get}
}

// recordBuffer is what the compressor writes a record into: a bytes.Buffer that can take a buffer
// and give it up.
type recordBuffer struct{ b []byte }

// Write appends p; it never fails.
func (w *recordBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Len returns the bytes written.
func (w *recordBuffer) Len() int { return len(w.b) }

// reset empties the buffer, taking a new one from get when the last was handed over.
func (w *recordBuffer) reset(get func() []byte) {
	if w.b == nil {
		if w.b = get(); cap(w.b) < BufferBytes {
			w.b = make([]byte, 0, BufferBytes)
		}
	}
	w.b = w.b[:0]
}

// Events is a sequence of JSON events, each produced by AppendEvent, stored back to back in Data;
// event i is Data[Ends[i-1]:Ends[i]] (Data[:Ends[0]] for the first).
type Events struct {
	Data []byte
	Ends []int
}

// Len returns the number of events.
func (ev Events) Len() int { return len(ev.Ends) }

// Event returns event i.
func (ev Events) Event(i int) []byte {
	start := 0
	if i > 0 {
		start = ev.Ends[i-1]
	}
	return ev.Data[start:ev.Ends[i]]
}

// Encode packs the events into records, in order, and calls emit with each. A record is closed
// when the next event could push it past TargetBytes; so that the bound holds whatever the data
// compresses to, the encoder flushes the compressor before the worst case (incompressible input)
// of what it has not yet flushed could cross the target, and it checks every finished record.
//
// When keepTail is true, Encode stops after the last record it could fill and returns the index of
// the first event it did not encode, so that the caller can put the rest back in front of newer
// events: a record is then only emitted full. The first record is always emitted. Encode does
// not even compress a rest too small to fill a record at the compression ratio of the records
// it filled (tailFill): the caller would only throw that work away. Otherwise every event is
// encoded and the returned index is ev.Len().
//
// The record passed to emit is only valid during the call, unless the Encoder is NewEncoderFrom's:
// emit then owns it, even when it returns an error.
func (e *Encoder) Encode(h Header, ev Events, keepTail bool, emit func(record []byte) error) (next int, st Stats, err error) {
	prefix := recordPrefix(h)
	i := 0
	for i < ev.Len() {
		first := i
		if keepTail && st.Records > 0 && !fillsRecord(len(ev.Data)-ev.Ends[first-1], st) {
			return first, st, nil
		}
		e.out.reset(e.get)
		e.zw.Reset(&e.out)
		e.stage = append(e.stage[:0], prefix...)
		pending := len(prefix) // bytes staged or written to the compressor since its last flush
		full := false
		raw := len(prefix) + len(suffix)
		for ; i < ev.Len(); i++ {
			event := ev.Event(i)
			n := len(event) + 1 // with its comma
			if !fits(e.out.Len(), pending+n+len(suffix)) {
				e.writeStage()
				if err := e.zw.Flush(); err != nil {
					return first, st, fmt.Errorf("record: compress: %w", err)
				}
				pending = 0
				if !fits(e.out.Len(), n+len(suffix)) && i > first {
					full = true
					break
				}
			}
			if i > first {
				e.stage = append(e.stage, ',')
			}
			e.stage = append(e.stage, event...)
			if len(e.stage) >= stageBytes {
				e.writeStage()
			}
			pending += n
			raw += n
		}
		if keepTail && !full && first > 0 {
			// A partial record at the end of a batch: the caller keeps these events for later.
			return first, st, nil
		}
		e.stage = append(e.stage, suffix...)
		e.writeStage()
		if err := e.zw.Close(); err != nil {
			return first, st, fmt.Errorf("record: compress: %w", err)
		}
		if e.out.Len() > TargetBytes {
			return first, st, fmt.Errorf("%w: %d bytes", errRecordTooLarge, e.out.Len())
		}
		rec := e.out.b
		if e.get != nil {
			e.out.b = nil // handed over
		}
		if err := emit(rec); err != nil {
			return first, st, err
		}
		st.Events += i - first
		st.RawBytes += raw
		st.Records++
		st.RecordBytes += len(rec)
	}
	return i, st, nil
}

// writeStage hands the staged JSON to the compressor, then yields the processor. Writes to a
// bytes.Buffer cannot fail, so neither can the compressor's until Close.
//
// The yield is for the goroutines that wait for a processor meanwhile: a record takes tens of
// milliseconds of compression, and Go preempts a running goroutine only after 10 ms, while a
// goroutine coming back from a blocking system call finds no idle processor once every one
// compresses, and waits in the global run queue. The intake log's writer is one: each round is a
// write(2) and an fdatasync(2), and the readers wait for its rounds once 8 MiB are pending
// (BENCHMARKS.md, session 10). A yield after each stage (32 KiB, a fraction of a millisecond to
// compress) costs well under 1% of the compression.
func (e *Encoder) writeStage() {
	e.zw.Write(e.stage)
	e.stage = e.stage[:0]
	runtime.Gosched()
}

// fillsRecord reports whether raw bytes of events are expected to fill a record, at the
// compression ratio of the records st describes.
func fillsRecord(raw int, st Stats) bool {
	return float64(raw)*float64(st.RecordBytes) >= tailFill*float64(st.RawBytes)
}

// fits reports whether written compressed bytes plus unflushed uncompressed bytes stay within
// TargetBytes in the worst case: deflate stores incompressible input in blocks of at most 65,535
// bytes, each with a 5-byte header, and a sync flush adds an empty 5-byte block.
func fits(written, unflushed int) bool {
	worst := unflushed + 5*(unflushed/65535+1) + 5
	return written+worst+gzipOverheadBytes <= TargetBytes
}

// recordPrefix returns the JSON of a record up to the opening bracket of its events.
func recordPrefix(h Header) []byte {
	var b strings.Builder
	b.WriteString(`{"owner":`)
	writeJSONString(&b, h.Owner)
	b.WriteString(`,"logGroup":`)
	writeJSONString(&b, h.LogGroup)
	b.WriteString(`,"logStream":`)
	writeJSONString(&b, h.LogStream)
	b.WriteString(`,"subscriptionFilters":[`)
	writeJSONString(&b, h.LogGroup)
	b.WriteString(`],"messageType":"` + messageType + `","logEvents":[`)
	return []byte(b.String())
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	b.Write(appendEscaped(nil, []byte(s), len(s)*6))
	b.WriteByte('"')
}

// Tail returns the events from index i on.
func (ev Events) Tail(i int) Events {
	if i == 0 {
		return ev
	}
	start := ev.Ends[i-1]
	tail := Events{Data: ev.Data[start:], Ends: make([]int, 0, len(ev.Ends)-i)}
	for _, end := range ev.Ends[i:] {
		tail.Ends = append(tail.Ends, end-start)
	}
	return tail
}
