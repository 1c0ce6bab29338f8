package intake

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"time"
)

// The on-disk format; doc.go describes it.
const (
	// MaxEntryBytes bounds the body of one entry or release marker on disk, and so the message of
	// an Entry (less a few dozen bytes of fields): the reader treats a length field above it as
	// damage instead of allocating it. It is part of the format, not an option, so that a log
	// written under one configuration reads back under any other.
	MaxEntryBytes = 4 << 20

	segmentMagic   = "KSINTAKE"
	segmentVersion = 1
	// segmentHeaderBytes: magic, version (uint32), next stream (uint64), CRC-32C of the 20 bytes
	// before it.
	segmentHeaderBytes = len(segmentMagic) + 4 + 8 + 4

	// entryMagic starts every entry and release marker. 0xF8 never occurs in UTF-8, so the magic
	// is rare inside syslog text, which keeps resynchronisation after damage cheap.
	entryMagic = "\xf8KIE"
	// entryHeaderBytes: magic, body length (uint32), CRC-32C of the length and the body.
	entryHeaderBytes = len(entryMagic) + 4 + 4

	kindEntry   = 1
	kindRelease = 2

	// maxZoneBytes bounds the IPv6 zone kept with a source address (interface names are at most
	// 15 bytes on Linux); a longer zone is dropped.
	maxZoneBytes = 32
	// entryOverheadBytes bounds what an entry adds to its message: header, kind, varints, format,
	// address, id.
	entryOverheadBytes = entryHeaderBytes + 1 + 4*binary.MaxVarintLen64 + 3 + 1 + 1 + 16 + maxZoneBytes + 16
	// maxRunsPerMarker keeps a release marker far below MaxEntryBytes.
	maxRunsPerMarker = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDamaged reports an entry whose bytes do not decode; the reader counts it and resynchronises.
var errDamaged = errors.New("intake: damaged entry")

// appendSegmentHeader appends the header of a new segment whose first stream number to hand out
// is nextStream.
func appendSegmentHeader(b []byte, nextStream uint64) []byte {
	start := len(b)
	b = append(b, segmentMagic...)
	b = binary.LittleEndian.AppendUint32(b, segmentVersion)
	b = binary.LittleEndian.AppendUint64(b, nextStream)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// parseSegmentHeader returns the next stream number recorded in a segment header, or false when
// h is not an intact header of a known version.
func parseSegmentHeader(h []byte) (nextStream uint64, ok bool) {
	if len(h) < segmentHeaderBytes || string(h[:len(segmentMagic)]) != segmentMagic {
		return 0, false
	}
	n := segmentHeaderBytes - 4
	if crc32.Checksum(h[:n], castagnoli) != binary.LittleEndian.Uint32(h[n:]) ||
		binary.LittleEndian.Uint32(h[len(segmentMagic):]) != segmentVersion {
		return 0, false
	}
	return binary.LittleEndian.Uint64(h[len(segmentMagic)+4:]), true
}

// beginRecord appends the header of an entry or marker with room for its length and checksum,
// which finishRecord fills in once the body is appended.
func beginRecord(b []byte, kind byte) []byte {
	b = append(b, entryMagic...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	return append(b, kind)
}

// finishRecord fills in the length and checksum of the record that starts at b[start:].
func finishRecord(b []byte, start int) {
	body := b[start+entryHeaderBytes:]
	binary.LittleEndian.PutUint32(b[start+len(entryMagic):], uint32(len(body)))
	crc := crc32.Update(0, castagnoli, b[start+len(entryMagic):start+len(entryMagic)+4])
	crc = crc32.Update(crc, castagnoli, body)
	binary.LittleEndian.PutUint32(b[start+len(entryMagic)+4:], crc)
}

// appendEntry appends e as one record.
func appendEntry(b []byte, e *Entry) []byte {
	start := len(b)
	b = beginRecord(b, kindEntry)
	b = binary.AppendUvarint(b, e.Stream)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Received.Unix())
	b = binary.AppendUvarint(b, uint64(e.Received.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.Format)
	b = appendAddr(b, e.Source)
	b = append(b, e.ID[:]...)
	b = append(b, e.Message...)
	finishRecord(b, start)
	return b
}

// appendAddr appends a, length first, in netip.Addr's binary form (4 bytes, 16 bytes and a zone,
// or nothing for the zero Addr). It does not allocate when b has room.
func appendAddr(b []byte, a netip.Addr) []byte {
	n := 0
	switch {
	case a.Is4():
		n = 4
	case a.Is6():
		if len(a.Zone()) > maxZoneBytes {
			a = a.WithZone("")
		}
		n = 16 + len(a.Zone())
	}
	b = append(b, byte(n))
	if n == 0 {
		return b
	}
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(append(b, v[:]...), a.Zone()...)
}

// appendRelease appends a release marker of runs, at most maxRunsPerMarker of them.
func appendRelease(b []byte, runs []Run) []byte {
	start := len(b)
	b = beginRecord(b, kindRelease)
	b = binary.AppendUvarint(b, uint64(len(runs)))
	for _, r := range runs {
		b = binary.AppendUvarint(b, r.Stream)
		b = binary.AppendUvarint(b, r.First)
		b = binary.AppendUvarint(b, r.Last-r.First)
	}
	finishRecord(b, start)
	return b
}

// recordLength returns the body length in the record header at the start of b, which must hold
// at least entryHeaderBytes, or false when b does not start with a plausible header.
func recordLength(b []byte) (int, bool) {
	if string(b[:len(entryMagic)]) != entryMagic {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(b[len(entryMagic):])
	if n < 1 || n > MaxEntryBytes {
		return 0, false
	}
	return int(n), true
}

// checksumOK reports whether the record b (header and body) carries the checksum of its body.
func checksumOK(b []byte) bool {
	crc := crc32.Update(0, castagnoli, b[len(entryMagic):len(entryMagic)+4])
	crc = crc32.Update(crc, castagnoli, b[entryHeaderBytes:])
	return crc == binary.LittleEndian.Uint32(b[len(entryMagic)+4:])
}

// decoder reads the fields of a record body; each read checks for canonical encodings, so that a
// body decodes only if encoding the result gives the same bytes back.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.err = errDamaged
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.err = errDamaged
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = errDamaged
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// decodeEntry decodes an entry body (after its kind byte) into e; e.Message aliases body.
func decodeEntry(body []byte, e *Entry) error {
	d := decoder{b: body}
	e.Stream = d.uvarint()
	e.Seq = d.uvarint()
	sec := d.varint()
	nsec := d.uvarint()
	port := d.uvarint()
	format := d.bytes(1)
	alen := d.bytes(1)
	if d.err != nil || nsec >= uint64(time.Second) || port > 0xffff {
		return errDamaged
	}
	addr, ok := decodeAddr(d.bytes(int(alen[0])))
	id := d.bytes(len(e.ID))
	if d.err != nil || !ok {
		return errDamaged
	}
	e.Received = time.Unix(sec, int64(nsec))
	e.Port = uint16(port)
	e.Format = format[0]
	e.Source = addr
	copy(e.ID[:], id)
	e.Message = d.b
	return nil
}

// decodeAddr is the inverse of appendAddr without its length byte.
func decodeAddr(b []byte) (netip.Addr, bool) {
	switch {
	case len(b) == 0:
		return netip.Addr{}, true
	case len(b) == 4:
		return netip.AddrFrom4([4]byte(b)), true
	case len(b) == 16:
		return netip.AddrFrom16([16]byte(b)), true
	case len(b) > 16:
		zone := string(b[16:])
		a := netip.AddrFrom16([16]byte(b[:16])).WithZone(zone)
		return a, a.Zone() == zone
	}
	return netip.Addr{}, false
}

// decodeRelease decodes a release marker body (after its kind byte), calling fn for each run.
func decodeRelease(body []byte, fn func(Run)) error {
	d := decoder{b: body}
	n := d.uvarint()
	if d.err != nil || n == 0 || n > maxRunsPerMarker {
		return errDamaged
	}
	// Check the whole marker before handing out any run: a damaged marker releases nothing.
	check := d
	for range n {
		check.uvarint()
		first := check.uvarint()
		if delta := check.uvarint(); first+delta < first {
			check.err = errDamaged
		}
	}
	if check.err != nil || len(check.b) != 0 {
		return errDamaged
	}
	for range n {
		r := Run{Stream: d.uvarint(), First: d.uvarint()}
		r.Last = r.First + d.uvarint()
		fn(r)
	}
	return nil
}
