package relp

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata")

// readAll reads every frame of in, and the error that ended the stream (nil for io.EOF).
func readAll(in io.Reader, maxData int) ([]Frame, error) {
	r := NewReader(in, maxData)
	var frames []Frame
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	}
}

// TestTruncateSyslog reads frames above the maximum from a Reader told to TruncateSyslog: a
// syslog frame's DATA is cut and the frame boundary kept; any other command is still refused.
func TestTruncateSyslog(t *testing.T) {
	big := strings.Repeat("x", readBufferBytes+100)
	for _, tt := range []struct {
		name          string
		in            string
		want          []Frame
		wantTruncated []bool
		wantErr       error
	}{
		{name: "one byte over", in: "1 syslog 5 abcde\n2 syslog 1 f\n",
			want: []Frame{{1, CmdSyslog, []byte("abcd")}, {2, CmdSyslog, []byte("f")}}, wantTruncated: []bool{true, false}},
		{name: "longer than the buffer", in: "1 syslog " + fmt.Sprint(len(big)) + " " + big + "\n2 close 0\n",
			want: []Frame{{1, CmdSyslog, []byte("xxxx")}, {2, CmdClose, nil}}, wantTruncated: []bool{true, false}},
		{name: "at the maximum", in: "1 syslog 4 abcd\n",
			want: []Frame{{1, CmdSyslog, []byte("abcd")}}, wantTruncated: []bool{false}},
		{name: "other command", in: "1 open 5 abcde\n", wantErr: ErrTooLarge},
		{name: "no trailer after the dropped data", in: "1 syslog 5 abcdeX", wantErr: ErrMalformed},
		{name: "ends in the dropped data", in: "1 syslog 10 abcdef", wantErr: io.ErrUnexpectedEOF},
		{name: "ends before the trailer", in: "1 syslog 5 abcde", wantErr: io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), 4)
			r.TruncateSyslog()
			var (
				got       []Frame
				truncated []bool
				err       error
			)
			for {
				var f Frame
				if f, err = r.ReadFrame(); err != nil {
					break
				}
				got = append(got, Frame{f.Txnr, f.Command, bytes.Clone(f.Data)})
				truncated = append(truncated, r.Truncated())
			}
			if tt.wantErr == nil && errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
			}
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Errorf("ReadFrame(%.40q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadFrame(%.40q) frames (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(tt.wantTruncated, truncated); diff != "" {
				t.Errorf("Truncated() after each frame of %.40q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestReadFrameGolden reads the frames that rsyslog 8.2302 with librelp 1.11.0 sent (omrelp to
// a test listener) and answered (imrelp), captured from real sessions, and writes them back.
func TestReadFrameGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.relp")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.relp: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			frames, err := readAll(bytes.NewReader(raw), 64<<10)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			var got strings.Builder
			var wire []byte
			for _, f := range frames {
				fmt.Fprintf(&got, "%d %s %q\n", f.Txnr, f.Command, f.Data)
				wire = AppendFrame(wire, f)
			}
			wantFile := strings.TrimSuffix(in, ".relp") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("frames of %s (-want +got):\n%s", in, diff)
			}
			if !bytes.Equal(wire, raw) {
				t.Errorf("AppendFrame of the frames read =\n%q\nwant the input\n%q", wire, raw)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	big := strings.Repeat("x", readBufferBytes+100)
	for _, tt := range []struct {
		name    string
		in      string
		max     int
		want    []Frame
		wantErr error
	}{
		{name: "syslog", in: "1 syslog 5 hello\n", want: []Frame{{1, CmdSyslog, []byte("hello")}}},
		{name: "zero DATALEN", in: "7 close 0\n", want: []Frame{{7, CmdClose, nil}}},
		{name: "serverclose", in: "0 serverclose 0\n", want: []Frame{{0, CmdServerclose, nil}}},
		{name: "unknown command", in: "3 Foo 2 ab\n", want: []Frame{{3, "Foo", []byte("ab")}}},
		{name: "data holds LF and spaces", in: "2 syslog 5 a \n b\n", want: []Frame{{2, CmdSyslog, []byte("a \n b")}}},
		{name: "two frames", in: "1 syslog 1 a\n2 syslog 1 b\n",
			want: []Frame{{1, CmdSyslog, []byte("a")}, {2, CmdSyslog, []byte("b")}}},
		{name: "largest numbers", in: "999999999 syslog 1 a\n", want: []Frame{{MaxTxnr, CmdSyslog, []byte("a")}}},
		{name: "data longer than the buffer", in: "1 syslog " + fmt.Sprint(len(big)) + " " + big + "\n",
			max: len(big), want: []Frame{{1, CmdSyslog, []byte(big)}}},
		{name: "data at the maximum", in: "1 syslog 4 abcd\n", max: 4, want: []Frame{{1, CmdSyslog, []byte("abcd")}}},
		{name: "empty stream", in: ""},

		{name: "data above the maximum", in: "1 syslog 5 abcde\n", max: 4, wantErr: ErrTooLarge},
		{name: "DATALEN far above the maximum", in: "1 syslog 999999999 ", wantErr: ErrTooLarge},
		{name: "space after DATALEN 0", in: "1 close 0 \n", wantErr: ErrMalformed},
		{name: "leading zero in TXNR", in: "01 syslog 1 a\n", wantErr: ErrMalformed},
		{name: "leading zero in DATALEN", in: "1 syslog 01 a\n", wantErr: ErrMalformed},
		{name: "TXNR of 10 digits", in: "1000000000 syslog 1 a\n", wantErr: ErrMalformed},
		{name: "DATALEN of 10 digits", in: "1 syslog 1000000000 a\n", wantErr: ErrMalformed},
		{name: "command of 33 letters", in: "1 " + strings.Repeat("a", 33) + " 0\n", wantErr: ErrMalformed},
		{name: "command of 32 letters", in: "1 " + strings.Repeat("a", 32) + " 0\n",
			want: []Frame{{1, strings.Repeat("a", 32), nil}}},
		{name: "digit in command", in: "1 sys1og 1 a\n", wantErr: ErrMalformed},
		{name: "no command", in: "1  1 a\n", wantErr: ErrMalformed},
		{name: "no TXNR", in: " syslog 1 a\n", wantErr: ErrMalformed},
		{name: "not RELP", in: "<13>Jan  1 00:00:00 host app: hi\n", wantErr: ErrMalformed},
		{name: "CRLF trailer", in: "1 syslog 1 a\r\n", wantErr: ErrMalformed},
		{name: "data longer than DATALEN", in: "1 syslog 1 ab\n", wantErr: ErrMalformed},
		{name: "no space before data", in: "1 syslog 1a\n", wantErr: ErrMalformed},
		{name: "ends in the header", in: "1 sysl", wantErr: io.ErrUnexpectedEOF},
		{name: "ends in the data", in: "1 syslog 5 ab", wantErr: io.ErrUnexpectedEOF},
		{name: "ends before the trailer", in: "1 syslog 2 ab", wantErr: io.ErrUnexpectedEOF},
		{name: "ends in long data", in: "1 syslog " + fmt.Sprint(len(big)) + " " + big[:100], max: len(big),
			wantErr: io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 1024
			}
			// One byte per read, so that every frame is read across many reads.
			got, err := readAll(iotest.OneByteReader(strings.NewReader(tt.in)), max)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Errorf("ReadFrame(%.40q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadFrame(%.40q) frames (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// countingReader counts the reads made of it.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

func TestReady(t *testing.T) {
	in := &countingReader{r: io.MultiReader(strings.NewReader("1 syslog 1 a\n2 syslog 1 b\n3 syslog 5 ab"),
		strings.NewReader("cde\n"))}
	r := NewReader(in, 1024)
	if r.Ready() {
		t.Errorf("Ready() = true before any read")
	}
	for i, want := range []struct {
		ready bool // before the frame
		reads bool // whether ReadFrame reads
	}{{false, true}, {true, false}, {false, true}} {
		if got := r.Ready(); got != want.ready {
			t.Errorf("Ready() before frame %d = %v, want %v", i+1, got, want.ready)
		}
		reads := in.reads
		if _, err := r.ReadFrame(); err != nil {
			t.Fatal(err)
		}
		if got := in.reads > reads; got != want.reads {
			t.Errorf("ReadFrame of frame %d read: %v, want %v", i+1, got, want.reads)
		}
	}
}

func TestAppendFrame(t *testing.T) {
	for _, tt := range []struct {
		f    Frame
		want string
	}{
		{Frame{2, CmdClose, nil}, "2 close 0\n"},
		{Frame{0, CmdServerclose, []byte{}}, "0 serverclose 0\n"},
		{Frame{MaxTxnr, CmdRsp, []byte("200 OK")}, "999999999 rsp 6 200 OK\n"},
	} {
		if got := string(AppendFrame(nil, tt.f)); got != tt.want {
			t.Errorf("AppendFrame(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

// FuzzReadFrame holds the Reader to its invariants on any input: no panic, memory bounded by
// the maximum DATALEN, every frame read written back by AppendFrame as the bytes it was read
// from, and Ready true only when ReadFrame then needs no read.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range []string{"1 syslog 5 hello\n", "2 close 0\n", "0 serverclose 0\n",
		"1 rsp 6 200 OK\n2 rsp 0\n", "01 syslog 1 a\n", "1 syslog 999999999 x", "1 x 0 \n"} {
		f.Add([]byte(seed))
	}
	if raw, err := os.ReadFile("testdata/omrelp-session.relp"); err == nil {
		f.Add(raw)
	}
	const maxData = 64
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &countingReader{r: iotest.HalfReader(bytes.NewReader(in))}
		r := NewReader(src, maxData)
		var wire []byte
		for {
			ready := r.Ready()
			reads := src.reads
			fr, err := r.ReadFrame()
			if ready && src.reads != reads {
				t.Fatalf("ReadFrame read after Ready() = true, at %q", in[len(wire):])
			}
			if err != nil {
				break
			}
			if len(fr.Data) > maxData {
				t.Fatalf("frame with %d bytes of data, maximum %d", len(fr.Data), maxData)
			}
			wire = AppendFrame(wire, fr)
			if !bytes.HasPrefix(in, wire) {
				t.Fatalf("frames written back as %q, not a prefix of the input %q", wire, in)
			}
		}
		if cap(r.buf) > maxData+1 {
			t.Fatalf("Reader buffer grew to %d bytes, maximum %d", cap(r.buf), maxData+1)
		}
		// Truncating syslog frames keeps the same bounds, and Ready's promise.
		src = &countingReader{r: iotest.HalfReader(bytes.NewReader(in))}
		r = NewReader(src, maxData)
		r.TruncateSyslog()
		for {
			ready := r.Ready()
			reads := src.reads
			fr, err := r.ReadFrame()
			if ready && src.reads != reads {
				t.Fatalf("truncating ReadFrame read after Ready() = true")
			}
			if err != nil {
				break
			}
			if len(fr.Data) > maxData || r.Truncated() && (fr.Command != CmdSyslog || len(fr.Data) != maxData) {
				t.Fatalf("%s frame with %d bytes of data, truncated %v, maximum %d", fr.Command, len(fr.Data), r.Truncated(), maxData)
			}
		}
		if cap(r.buf) > maxData+1 {
			t.Fatalf("truncating Reader buffer grew to %d bytes, maximum %d", cap(r.buf), maxData+1)
		}
	})
}

func TestAppendRsps(t *testing.T) {
	for _, tt := range []struct {
		name  string
		txnrs []int
		data  string
	}{
		{"none", nil, "200 OK"},
		{"one", []int{7}, "200 OK"},
		{"consecutive", []int{8, 9, 10, 11}, "200 OK"},
		{"digits vary", []int{MaxTxnr, 1, 22, 333_333_333, 4}, "200 OK"},
		{"refused", []int{5, 6}, "500 relp: message refused: disk full"},
		{"no data", []int{12, 13}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("1 rsp 0\n")
			want := bytes.Clone(prefix)
			for _, txnr := range tt.txnrs {
				want = AppendFrame(want, Frame{Txnr: txnr, Command: CmdRsp, Data: []byte(tt.data)})
			}
			// From a slice with no room left, so that appending moves it.
			if got := appendRsps(prefix[:len(prefix):len(prefix)], tt.txnrs, []byte(tt.data)); !bytes.Equal(got, want) {
				t.Errorf("appendRsps(%v, %q) = %q, want %q", tt.txnrs, tt.data, got, want)
			}
		})
	}
}
