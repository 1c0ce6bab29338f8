//go:build !purego

package record

// safePrefix returns the length of the run of bytes at the start of b that JSON strings hold as
// they are. On amd64 it tests sixteen bytes per SSE2 compare (safePrefixSSE2, which every amd64
// processor has): a quarter of the instructions of safePrefixWords, which takes the runs under 16
// bytes.
func safePrefix(b []byte) int {
	if len(b) < 16 {
		return safePrefixWords(b)
	}
	return safePrefixSSE2(b)
}

// safePrefixSSE2 is safePrefix for len(b) >= 16, in safeprefix_amd64.s.
//
//go:noescape
func safePrefixSSE2(b []byte) int
