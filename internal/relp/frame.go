package relp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/kinesyslog/kinesyslog/internal/framing"
)

// Frame limits, from the RELP description and librelp's relp.h.
const (
	// MaxTxnr is the largest transaction number: TXNR has at most 9 digits, and a client wraps
	// from MaxTxnr to 1.
	MaxTxnr = 999_999_999
	// maxCommandBytes is the longest COMMAND: 1*32ALPHA.
	maxCommandBytes = 32
	// maxNumberDigits is the longest TXNR and DATALEN: 1*9DIGIT.
	maxNumberDigits = 9
	// maxHeaderBytes is the longest "TXNR SP COMMAND SP DATALEN SP".
	maxHeaderBytes = maxNumberDigits + 1 + maxCommandBytes + 1 + maxNumberDigits + 1
	// readBufferBytes is the Reader's buffer: frames whose DATA and trailer fit are returned
	// from it without a copy.
	readBufferBytes = 16 << 10
)

// The commands of RELP.
const (
	CmdOpen        = "open"        // client's first frame; DATA are its offers
	CmdSyslog      = "syslog"      // DATA is one syslog message
	CmdClose       = "close"       // client ends the session
	CmdRsp         = "rsp"         // server's answer to a client frame, with the same TXNR
	CmdServerclose = "serverclose" // server ends the session; TXNR 0
)

// Errors of ReadFrame that a session acts on.
var (
	// ErrMalformed means the bytes read are not a frame: the frame boundary is lost.
	ErrMalformed = errors.New("relp: malformed frame")
	// ErrTooLarge means a frame's DATALEN is above the Reader's maximum.
	ErrTooLarge = errors.New("relp: frame data longer than the maximum")
)

// errShort says that a header is incomplete: more bytes are needed to parse it.
var errShort = errors.New("relp: short header")

// Frame is one RELP frame: "TXNR SP COMMAND SP DATALEN [SP DATA] LF".
type Frame struct {
	Txnr    int    // 0 to MaxTxnr
	Command string // 1 to 32 ASCII letters
	Data    []byte // DATALEN bytes, at most 999,999,999
}

// AppendFrame appends f in its wire form to dst and returns the extended slice. f must be valid
// (see Frame); DATALEN 0 is written without the space, as librelp writes and requires it.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = strconv.AppendInt(dst, int64(f.Txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, f.Command...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(f.Data)), 10)
	if len(f.Data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, f.Data...)
	}
	return append(dst, '\n')
}

// appendRsps appends to dst an rsp frame with DATA data for each of txnrs, in order, and
// returns the extended slice: AppendFrame's wire form, with what follows TXNR built once for
// all of them (a session answers its frames in batches, nearly all "200 OK").
func appendRsps(dst []byte, txnrs []int, data []byte) []byte {
	if len(txnrs) == 0 {
		return dst
	}
	start := len(dst)
	dst = AppendFrame(dst, Frame{Txnr: txnrs[0], Command: CmdRsp, Data: data})
	// The tail stays as written even when dst moves: nothing writes to it.
	tail := dst[start+bytes.IndexByte(dst[start:], ' '):]
	for _, txnr := range txnrs[1:] {
		dst = strconv.AppendInt(dst, int64(txnr), 10)
		dst = append(dst, tail...)
	}
	return dst
}

// Reader reads frames from a byte stream, holding at most its maximum DATALEN plus a small
// buffer in memory whatever the stream sends. It is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	maxData int
	buf     []byte         // DATA and trailer of frames longer than br's buffer
	mem     framing.Memory // accounts for buf; nil: not accounted
	// cutSyslog makes syslog frames above maxData truncated rather than ErrTooLarge.
	cutSyslog bool
	truncated bool // the last frame's DATA was cut to maxData
	// ready is the header that Ready parsed at the start of br's buffer, of readyBytes bytes,
	// for the next ReadFrame to take rather than parse it again (a session calls Ready before
	// every frame); readyBytes is 0 when there is none.
	ready      header
	readyBytes int
}

// NewReader returns a Reader of r whose frames may carry at most maxDataBytes of DATA; a larger
// DATALEN is ErrTooLarge, found before any of the DATA is read.
func NewReader(r io.Reader, maxDataBytes int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBufferBytes), maxData: maxDataBytes}
}

// SetMemory makes r account for the buffer it holds beyond its first readBufferBytes, for the
// frames that do not fit those, with m, as framing.Scanner does: m.Grow before the buffer grows
// (an error ends the read, as a read error does), m.Shrink when it is given back, once a frame
// fits the first buffer again, and by Free. Call it before the first ReadFrame.
func (r *Reader) SetMemory(m framing.Memory) { r.mem = m }

// Free gives back the buffer of large frames, to the Memory of SetMemory. ReadFrame may still be
// called, and allocates it again when needed.
func (r *Reader) Free() {
	if r.mem != nil && cap(r.buf) > 0 {
		r.mem.Shrink(cap(r.buf))
	}
	r.buf = nil
}

// TruncateSyslog makes r return a syslog frame whose DATALEN is above the maximum with its DATA
// cut to the maximum, the rest read and dropped, rather than ErrTooLarge: a sender then loses
// the end of one message, not its session (imrelp's default oversizeMode, truncate, since
// rsyslog 8.35.0). Truncated tells such frames. Other commands above the maximum stay
// ErrTooLarge.
func (r *Reader) TruncateSyslog() { r.cutSyslog = true }

// Truncated reports whether the DATA of the frame ReadFrame last returned was cut to the
// maximum (TruncateSyslog).
func (r *Reader) Truncated() bool { return r.truncated }

// ReadFrame reads the next frame. Its Data is valid until the next call of ReadFrame. It
// returns io.EOF when the stream ends between frames, an error wrapping io.ErrUnexpectedEOF
// when it ends inside one, and errors wrapping ErrMalformed or ErrTooLarge for bytes that are
// not a frame the Reader takes; the stream's place is lost after any error.
func (r *Reader) ReadFrame() (Frame, error) {
	h, n := r.ready, r.readyBytes
	r.readyBytes = 0
	for n == 0 {
		b, _ := r.br.Peek(r.br.Buffered())
		var err error
		h, n, err = parseHeader(b)
		if err == nil {
			break
		}
		if err != errShort { // never wrapped: a comparison, not errors.Is
			return Frame{}, err
		}
		if _, err := r.br.Peek(len(b) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				if len(b) == 0 {
					return Frame{}, io.EOF
				}
				return Frame{}, fmt.Errorf("relp: read frame header: %w", io.ErrUnexpectedEOF)
			}
			return Frame{}, fmt.Errorf("relp: read frame header: %w", err)
		}
	}
	r.truncated = false
	keep := h.datalen // DATA bytes returned
	if h.datalen > r.maxData {
		if !r.cutSyslog || string(h.command) != CmdSyslog {
			return Frame{}, fmt.Errorf("%w: DATALEN %d, maximum %d", ErrTooLarge, h.datalen, r.maxData)
		}
		keep = r.maxData
	}
	r.br.Discard(n)
	f := Frame{Txnr: h.txnr, Command: command(h.command)}
	total := keep + 1 // with the trailer, or the first byte dropped
	var body []byte
	// A truncated frame's DATA is copied: reading on through the dropped bytes reuses br's
	// buffer.
	if total <= r.br.Size() && keep == h.datalen {
		// A connection that once sent a large frame does not keep its memory.
		r.Free()
		b, err := r.br.Peek(total)
		if err != nil {
			return Frame{}, fmt.Errorf("relp: read %s frame data: %w", f.Command, unexpected(err))
		}
		body = b
		r.br.Discard(total)
	} else {
		if cap(r.buf) < total {
			if r.mem != nil {
				if err := r.mem.Grow(total - cap(r.buf)); err != nil {
					return Frame{}, fmt.Errorf("relp: read %s frame data: grow buffer: %w", f.Command, err)
				}
			}
			r.buf = make([]byte, total)
		}
		body = r.buf[:total]
		if _, err := io.ReadFull(r.br, body); err != nil {
			return Frame{}, fmt.Errorf("relp: read %s frame data: %w", f.Command, unexpected(err))
		}
	}
	trailer := body[keep]
	if keep < h.datalen {
		// body's last byte was the first one dropped: drop the rest, then read the trailer.
		if _, err := r.br.Discard(h.datalen - keep - 1); err != nil {
			return Frame{}, fmt.Errorf("relp: read %s frame data: %w", f.Command, unexpected(err))
		}
		var err error
		if trailer, err = r.br.ReadByte(); err != nil {
			return Frame{}, fmt.Errorf("relp: read %s frame trailer: %w", f.Command, unexpected(err))
		}
		r.truncated = true
	}
	if trailer != '\n' {
		return Frame{}, fmt.Errorf("%w: %q after %d bytes of DATA, want LF", ErrMalformed, trailer, h.datalen)
	}
	if keep > 0 {
		f.Data = body[:keep]
	}
	return f, nil
}

// Ready reports whether a whole frame, or enough of a bad one to tell, is buffered: whether
// ReadFrame would return without reading from the stream.
func (r *Reader) Ready() bool {
	b, _ := r.br.Peek(r.br.Buffered())
	h, n, err := parseHeader(b)
	switch {
	case err == errShort:
		return false
	case err != nil:
		return true
	}
	r.ready, r.readyBytes = h, n
	switch {
	case h.datalen > r.maxData:
		// Refused at once, or truncated: then read through to its end, which may not fit the
		// buffer.
		return !r.cutSyslog || string(h.command) != CmdSyslog
	}
	return len(b)-n > h.datalen
}

// unexpected turns the io.EOF of a stream that ends inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// header is a parsed "TXNR SP COMMAND SP DATALEN".
type header struct {
	txnr    int
	command []byte
	datalen int
}

// parseHeader parses the header at the start of b and returns it with its length: up to and
// with the SP before DATA, or up to the trailer when DATALEN is 0. It returns errShort when b
// ends before the header does, and an error wrapping ErrMalformed when b cannot start a frame.
// Numbers are taken only in their shortest form (no leading zeros), so that every frame it
// parses has one wire form.
func parseHeader(b []byte) (h header, n int, err error) {
	h.txnr, n, err = parseNumber(b, 0, "TXNR")
	if err != nil {
		return h, 0, err
	}
	if b[n] != ' ' {
		return h, 0, fmt.Errorf("%w: %q after TXNR, want a space", ErrMalformed, b[n])
	}
	start := n + 1
	i := start
	if len(b)-start > len(CmdSyslog) && string(b[start:start+len(CmdSyslog)+1]) == CmdSyslog+" " {
		// The command of nearly every frame a server reads.
		i += len(CmdSyslog)
	}
	for ; i < len(b) && isLetter(b[i]); i++ {
		if i-start == maxCommandBytes {
			return h, 0, fmt.Errorf("%w: command longer than %d letters", ErrMalformed, maxCommandBytes)
		}
	}
	switch {
	case i == len(b):
		return h, 0, errShort
	case i == start:
		return h, 0, fmt.Errorf("%w: %q at the start of the command, want a letter", ErrMalformed, b[i])
	case b[i] != ' ':
		return h, 0, fmt.Errorf("%w: %q after the command, want a space", ErrMalformed, b[i])
	}
	h.command = b[start:i]
	h.datalen, n, err = parseNumber(b, i+1, "DATALEN")
	if err != nil {
		return h, 0, err
	}
	if h.datalen == 0 {
		if b[n] != '\n' {
			return h, 0, fmt.Errorf("%w: %q after DATALEN 0, want LF", ErrMalformed, b[n])
		}
		return h, n, nil
	}
	if b[n] != ' ' {
		return h, 0, fmt.Errorf("%w: %q after DATALEN, want a space", ErrMalformed, b[n])
	}
	return h, n + 1, nil
}

// parseNumber parses the decimal at b[i:] and returns it with the index of the byte after it,
// which exists when err is nil.
func parseNumber(b []byte, i int, name string) (v, next int, err error) {
	start := i
	// One digit more than a number may have is looked at, to tell that it has too many.
	for end := min(len(b), start+maxNumberDigits+1); i < end; i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		v = v*10 + int(d)
	}
	switch {
	case i-start > maxNumberDigits:
		return 0, 0, fmt.Errorf("%w: %s longer than %d digits", ErrMalformed, name, maxNumberDigits)
	case i == len(b):
		return 0, 0, errShort
	case i == start:
		return 0, 0, fmt.Errorf("%w: %q at the start of %s, want a digit", ErrMalformed, b[i], name)
	case b[start] == '0' && i-start > 1:
		return 0, 0, fmt.Errorf("%w: %s with a leading zero", ErrMalformed, name)
	}
	return v, i, nil
}

// isLetter reports whether c is an ASCII letter: with bit 0x20 set, upper case reads as lower.
func isLetter(c byte) bool { return c|0x20-'a' < 26 }

// command returns the command in b as a string, without allocating for the commands of RELP.
func command(b []byte) string {
	switch string(b) {
	case CmdSyslog:
		return CmdSyslog
	case CmdRsp:
		return CmdRsp
	case CmdOpen:
		return CmdOpen
	case CmdClose:
		return CmdClose
	case CmdServerclose:
		return CmdServerclose
	}
	return string(b)
}
