package s3dir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	// inprogressDir holds the objects being written, hidden from readers of the directory.
	inprogressDir = ".inprogress"
	// commitSuffix names the sidecar of an object in progress, which records its committed length.
	commitSuffix = ".committed"
	// lockName is the file in inprogressDir that a Destination locks while it owns the directory.
	lockName = ".lock"

	// streamVersion is the version in object names: 1 is a stream whose configuration was never
	// updated.
	streamVersion = 1
	// nameTimeLayout and keyTimeLayout format the arrival time of an object's oldest record in
	// its name and its prefix, as Firehose does.
	nameTimeLayout = "2006-01-02-15-04-05"
	keyTimeLayout  = "2006/01/02/15"
	// uuidLen is the length of a UUID in its canonical text form, which ends every object name.
	uuidLen = 36

	dirPerm  = 0o750
	filePerm = 0o640
)

// A commit slot is a big-endian sequence number and committed length followed by the CRC-32C of
// both; the sidecar holds two, and commit n goes into slot n%2.
const (
	slotSize  = 20
	slotCount = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// object is an object in progress: its data file under inprogressDir and its sidecar.
type object struct {
	name    string
	path    string
	created time.Time // arrival time of its oldest record, in UTC
	data    *os.File
	commits *os.File // nil for an object found at Open, which is published without more appends
	size    int64    // committed length, which is the data file's length between calls
	seq     uint64   // sequence number of the last commit
}

// objectName returns the name Firehose would give an object of stream created at t.
func objectName(stream string, t time.Time) string {
	return fmt.Sprintf("%s-%d-%s-%s", stream, streamVersion, t.Format(nameTimeLayout), uuid.NewString())
}

// parseName returns the creation time in an object name, and false if name is not one.
func parseName(name string) (time.Time, bool) {
	// <stream>-<version>-<time>-<uuid>, where only the stream may hold '-'.
	tail := 1 + len(nameTimeLayout) + 1 + uuidLen
	if len(name) <= tail || name[len(name)-tail] != '-' || name[len(name)-uuidLen-1] != '-' {
		return time.Time{}, false
	}
	stream, version, ok := cutLast(name[:len(name)-tail], "-")
	if !ok || stream == "" || version == "" || strings.Trim(version, "0123456789") != "" {
		return time.Time{}, false
	}
	if _, err := uuid.Parse(name[len(name)-uuidLen:]); err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(nameTimeLayout, name[len(name)-tail+1:len(name)-uuidLen-1])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// createObject creates the files of a new object in dir for records arriving at now.
func createObject(dir, stream string, now time.Time) (*object, error) {
	o := &object{name: objectName(stream, now), created: now}
	o.path = filepath.Join(dir, o.name)
	var err error
	if o.data, err = os.OpenFile(o.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm); err != nil {
		return nil, fmt.Errorf("s3dir: create object: %w", err)
	}
	if o.commits, err = os.OpenFile(o.commitPath(), os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm); err != nil {
		return nil, errors.Join(fmt.Errorf("s3dir: create object: %w", err), o.data.Close(), os.Remove(o.path))
	}
	// Syncing the files at each commit does not make their names durable; syncing the
	// directory does.
	if err := syncDir(dir); err != nil {
		return nil, errors.Join(fmt.Errorf("s3dir: create object: %w", err),
			o.close(), os.Remove(o.path), os.Remove(o.commitPath()))
	}
	return o, nil
}

// key returns the object's key: its path in the directory with '/' separators.
func (o *object) key() string {
	return o.created.Format(keyTimeLayout) + "/" + o.name
}

func (o *object) commitPath() string { return o.path + commitSuffix }

// append writes records, size bytes in all, after the committed length, makes them durable and
// commits the new length. On error the data file may hold part of the records and the sidecar
// either length: rollback, then publish.
func (o *object) append(records [][]byte, size int64) error {
	off := o.size
	for _, r := range records {
		if _, err := o.data.WriteAt(r, off); err != nil {
			return fmt.Errorf("s3dir: write %s: %w", o.name, err)
		}
		off += int64(len(r))
	}
	if err := o.data.Sync(); err != nil {
		return fmt.Errorf("s3dir: sync %s: %w", o.name, err)
	}
	seq := o.seq + 1
	slot := encodeSlot(seq, o.size+size)
	if _, err := o.commits.WriteAt(slot[:], int64(seq%slotCount)*slotSize); err != nil {
		return fmt.Errorf("s3dir: commit %s: %w", o.name, err)
	}
	if err := o.commits.Sync(); err != nil {
		return fmt.Errorf("s3dir: commit %s: %w", o.name, err)
	}
	o.seq = seq
	o.size += size
	return nil
}

// rollback cuts the data file back to the committed length after a failed append. The sidecar
// may already claim more, which recovery resolves by never going past the file's end.
func (o *object) rollback() error {
	if err := o.data.Truncate(o.size); err != nil {
		return fmt.Errorf("s3dir: roll back %s: %w", o.name, err)
	}
	if err := o.data.Sync(); err != nil {
		return fmt.Errorf("s3dir: roll back %s: %w", o.name, err)
	}
	return nil
}

func (o *object) close() error {
	err := o.data.Close()
	if o.commits != nil {
		err = errors.Join(err, o.commits.Close())
	}
	if err != nil {
		return fmt.Errorf("s3dir: close %s: %w", o.name, err)
	}
	return nil
}

func encodeSlot(seq uint64, length int64) [slotSize]byte {
	var b [slotSize]byte
	binary.BigEndian.PutUint64(b[0:], seq)
	binary.BigEndian.PutUint64(b[8:], uint64(length))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

// decodeCommitted returns the length of the latest intact commit in a sidecar's contents, or
// zero when there is none: a crash before the first commit completed.
func decodeCommitted(b []byte) int64 {
	var latest uint64
	var length int64
	for i := range slotCount {
		if len(b) < (i+1)*slotSize {
			break
		}
		s := b[i*slotSize : (i+1)*slotSize]
		if crc32.Checksum(s[:16], castagnoli) != binary.BigEndian.Uint32(s[16:]) {
			continue
		}
		// Sequence numbers start at 1, so an intact slot always beats none.
		seq, n := binary.BigEndian.Uint64(s[0:]), binary.BigEndian.Uint64(s[8:])
		if seq > latest && n <= math.MaxInt64 {
			latest, length = seq, int64(n)
		}
	}
	return length
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// mkdirSynced creates the directories of the slash-separated path rel under root, making each
// entry durable. It syncs a parent even when the directory exists: an earlier attempt may have
// created it and failed before its sync.
func mkdirSynced(root, rel string) error {
	dir := root
	for part := range strings.SplitSeq(rel, "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	return nil
}
