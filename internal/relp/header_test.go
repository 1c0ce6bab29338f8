package relp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// referenceParseHeader is parseHeader as first written, one byte at a time with every check
// in the loops: the plain reading of the grammar that the faster parseHeader must agree with.
func referenceParseHeader(b []byte) (h header, n int, err error) {
	h.txnr, n, err = referenceParseNumber(b, 0, "TXNR")
	if err != nil {
		return h, 0, err
	}
	if b[n] != ' ' {
		return h, 0, fmt.Errorf("%w: %q after TXNR, want a space", ErrMalformed, b[n])
	}
	start := n + 1
	i := start
	for ; i < len(b) && referenceIsLetter(b[i]); i++ {
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
	h.datalen, n, err = referenceParseNumber(b, i+1, "DATALEN")
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

func referenceParseNumber(b []byte, i int, name string) (v, next int, err error) {
	start := i
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if i-start == maxNumberDigits {
			return 0, 0, fmt.Errorf("%w: %s longer than %d digits", ErrMalformed, name, maxNumberDigits)
		}
		v = v*10 + int(b[i]-'0')
	}
	switch {
	case i == len(b):
		return 0, 0, errShort
	case i == start:
		return 0, 0, fmt.Errorf("%w: %q at the start of %s, want a digit", ErrMalformed, b[i], name)
	case b[start] == '0' && i-start > 1:
		return 0, 0, fmt.Errorf("%w: %s with a leading zero", ErrMalformed, name)
	}
	return v, i, nil
}

func referenceIsLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// headerCases are inputs at the edges of the header's grammar.
var headerCases = []string{
	"", "1", "1 ", "1 syslog", "1 syslog ", "1 syslog 5", "1 syslog 5 ", "1 syslog 0\n", "1 syslog 0 ",
	"1 sysloG 5 x", "1 syslogs 5 x", "1 syslo 5 x", "1 syslog5 x", "1 syslog\n", "1  syslog 5 x",
	"999999999 syslog 999999999 x", "1000000000 syslog 1 x", "999999999", "9999999999",
	"1 syslog 999999999", "1 syslog 1000000000", "1 syslog 9999999999 ", "01 syslog 1 x",
	"1 syslog 01 x", "0 serverclose 0\n", "1 rsp 6 200 OK\n", "1 " + strings.Repeat("a", 32) + " 0\n",
	"1 " + strings.Repeat("a", 33) + " 0\n", "1 " + strings.Repeat("a", 32), "1 @ 0\n", "1 [ 0\n",
	"1 ` 0\n", "1 { 0\n", "1 Z 0\n", "1 z 0\n", "1 A 0\n", "1 a 0\n", "1 \xc1 0\n", "1 \xfa 0\n",
	"/ syslog 1 x", ": syslog 1 x", "1 syslog / x", "1 syslog : x",
}

// checkHeader fails unless parseHeader and referenceParseHeader agree on b.
func checkHeader(t *testing.T, b []byte) {
	t.Helper()
	h, n, err := parseHeader(b)
	wh, wn, werr := referenceParseHeader(b)
	if fmt.Sprint(err) != fmt.Sprint(werr) || (err == errShort) != (werr == errShort) {
		t.Fatalf("parseHeader(%q) error %v, want %v", b, err, werr)
	}
	if err == nil && (h.txnr != wh.txnr || !bytes.Equal(h.command, wh.command) || h.datalen != wh.datalen || n != wn) {
		t.Fatalf("parseHeader(%q) = %d %q %d, %d, want %d %q %d, %d", b, h.txnr, h.command, h.datalen, n,
			wh.txnr, wh.command, wh.datalen, wn)
	}
}

func TestParseHeader(t *testing.T) {
	for _, in := range headerCases {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			// Every prefix too: what a Reader finds while a header arrives.
			for i := range len(in) + 1 {
				checkHeader(t, []byte(in[:i]))
			}
		})
	}
}

// FuzzParseHeader holds parseHeader to the reference on any input: the same header, length and
// error.
func FuzzParseHeader(f *testing.F) {
	for _, in := range headerCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkHeader(t, in) })
}
