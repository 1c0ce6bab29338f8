package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/kinesyslog/kinesyslog/internal/firehose"
)

// Report says how what was delivered compares with what was sent.
type Report struct {
	Expected   int // messages sent
	Delivered  int // distinct messages sent that were found intact
	Lost       int // messages sent that were not found intact
	Duplicated int // extra copies of messages found more than once
	Corrupt    int // messages with a token of the run whose bytes differ from what was sent
	Foreign    int // messages without a token of the run
}

// OK reports whether every message sent was delivered exactly once, and nothing else.
func (r Report) OK() bool {
	return r.Delivered == r.Expected && r.Duplicated == 0 && r.Corrupt == 0 && r.Foreign == 0
}

func (r Report) String() string {
	return fmt.Sprintf("%d sent, %d delivered, %d lost, %d duplicated, %d corrupt, %d foreign",
		r.Expected, r.Delivered, r.Lost, r.Duplicated, r.Corrupt, r.Foreign)
}

// A Verifier checks delivered messages against what a run sent: it regenerates each message from
// its token and compares it byte for byte. It is not safe for concurrent use.
type Verifier struct {
	gen     Generator
	seen    [][]uint8 // delivery count of each stream's messages, saturating
	scratch []byte
	report  Report
}

// NewVerifier returns a Verifier of the messages gen made for streams that sent counts[i]
// messages each.
func NewVerifier(gen Generator, counts []int) *Verifier {
	v := &Verifier{gen: gen, seen: make([][]uint8, len(counts))}
	for i, n := range counts {
		v.seen[i] = make([]uint8, n)
		v.report.Expected += n
	}
	return v
}

// Message checks one delivered message.
func (v *Verifier) Message(msg []byte) {
	tok, ok := ParseToken(msg)
	if !ok || tok.Run != v.gen.Run || tok.Stream >= len(v.seen) || tok.Seq >= len(v.seen[tok.Stream]) {
		v.report.Foreign++
		return
	}
	v.scratch = v.gen.Append(v.scratch[:0], tok.Stream, tok.Seq)
	if !bytes.Equal(v.scratch, msg) {
		v.report.Corrupt++
		return
	}
	if c := &v.seen[tok.Stream][tok.Seq]; *c < 255 {
		*c++
	}
}

// Report returns the tally of the messages checked so far.
func (v *Verifier) Report() Report {
	r := v.report
	r.Delivered, r.Duplicated = 0, 0
	for _, counts := range v.seen {
		for _, c := range counts {
			if c > 0 {
				r.Delivered++
				r.Duplicated += int(c) - 1
			}
		}
	}
	r.Lost = r.Expected - r.Delivered
	return r
}

// RecordStats describes the records of a relay's output.
type RecordStats struct {
	Records  int   // records read
	Bytes    int64 // their compressed bytes
	MaxBytes int   // the largest record's compressed bytes
	RawBytes int64 // their JSON bytes
	Oversize int   // records above firehose.MaxRecordBytes, which Firehose refuses
}

// MeanBytes returns the mean compressed size of a record.
func (s RecordStats) MeanBytes() float64 {
	if s.Records == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Records)
}

// Ratio returns the compression ratio: JSON bytes per record byte.
func (s RecordStats) Ratio() float64 {
	if s.Bytes == 0 {
		return 0
	}
	return float64(s.RawBytes) / float64(s.Bytes)
}

// add counts a record of compressed and raw bytes.
func (s *RecordStats) add(compressed, raw int) {
	s.Records++
	s.Bytes += int64(compressed)
	s.RawBytes += int64(raw)
	s.MaxBytes = max(s.MaxBytes, compressed)
	if compressed > firehose.MaxRecordBytes {
		s.Oversize++
	}
}

// recordEvents is the part of a record the verifier reads.
type recordEvents struct {
	LogEvents []struct {
		Message string `json:"message"`
	} `json:"logEvents"`
}

// Records checks every event of the records in r, concatenated gzip members as a spool file, an
// output object or a Firehose record holds them, and adds them to st.
func (v *Verifier) Records(r io.Reader, st *RecordStats) error {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 1<<20)
	var (
		zr   *gzip.Reader
		raw  bytes.Buffer
		recs recordEvents
	)
	for {
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("bench: read records: %w", err)
		}
		// The gzip reader reads a bufio.Reader byte by byte past the header, so the bytes the
		// counter saw less those still buffered are exactly the members read so far.
		start := cr.n - int64(br.Buffered())
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(br)
		} else {
			err = zr.Reset(br)
		}
		if err != nil {
			return fmt.Errorf("bench: record %d: gzip header: %w", st.Records, err)
		}
		zr.Multistream(false)
		raw.Reset()
		if _, err := raw.ReadFrom(zr); err != nil {
			return fmt.Errorf("bench: record %d: decompress: %w", st.Records, err)
		}
		recs.LogEvents = recs.LogEvents[:0]
		if err := json.Unmarshal(raw.Bytes(), &recs); err != nil {
			return fmt.Errorf("bench: record %d: decode JSON: %w", st.Records, err)
		}
		for _, ev := range recs.LogEvents {
			v.Message([]byte(ev.Message))
		}
		st.add(int(cr.n-int64(br.Buffered())-start), raw.Len())
	}
}

// RecordDir checks the records of every object under dir, as `kinesyslog listen --output` writes
// them. Hidden files (objects being written) are skipped.
func (v *Verifier) RecordDir(dir string) (RecordStats, error) {
	var st RecordStats
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case strings.HasPrefix(d.Name(), ".") && path != dir:
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := v.Records(f, &st); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	return st, err
}

// lineEvent is the part of a line of the rsyslog output the verifier reads.
type lineEvent struct {
	Message string `json:"message"`
}

// Lines checks the events of a gzip-compressed file of JSON lines, {"message": ...} each, as the
// rsyslog configuration of this package writes them. It returns the number of uncompressed
// bytes.
func (v *Verifier) Lines(r io.Reader) (int64, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("bench: gzip header: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		raw int64
		ev  lineEvent
	)
	for sc.Scan() {
		raw += int64(len(sc.Bytes())) + 1
		ev.Message = ""
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			v.report.Foreign++
			continue
		}
		v.Message([]byte(ev.Message))
	}
	if err := sc.Err(); err != nil {
		return raw, fmt.Errorf("bench: read lines: %w", err)
	}
	return raw, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
