//go:build !amd64 || purego

package record

// safePrefix returns the length of the run of bytes at the start of b that JSON strings hold as
// they are.
func safePrefix(b []byte) int { return safePrefixWords(b) }
