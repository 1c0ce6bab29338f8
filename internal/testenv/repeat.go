package testenv

// A RepeatReader returns Data over and over, at most Chunk bytes per Read, as a busy socket
// does; it never ends. Data and Chunk must not be empty. It is not safe for concurrent use.
type RepeatReader struct {
	Data  []byte
	Chunk int
	off   int
}

// Read fills p, up to Chunk bytes, with the next bytes of the repetition.
func (r *RepeatReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), r.Chunk)]
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.Data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.Data)
	}
	return n, nil
}
