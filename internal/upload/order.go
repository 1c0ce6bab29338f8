package upload

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/kinesyslog/kinesyslog/internal/backoff"
	"github.com/kinesyslog/kinesyslog/internal/spool"
)

// orderLookahead is how many pending records, oldest first, the Uploader looks through for
// records it may send to an Ordered destination: a call's worth, so that records of other keys
// behind a key whose record is out still leave, while a backlog of one key is not read through
// to the end at every dispatch (each record looked at is read once for its key).
const orderLookahead = 500

// A keyOrder keeps each key's records in spool order for an Ordered destination: a record is
// handed out only while no other record of its key is out (in a call, or refused and waiting to
// be sent again), and a call holds at most one record of a key. It is safe for concurrent use:
// the loop hands records out (next), and deliveries give their keys back (release).
type keyOrder struct {
	key   func(record []byte) string
	freed chan struct{} // holds a token once a key is given back or a delivery waits, for the loop to look again
	// waiting counts the deliveries waiting to send refused records again, which hold keys but
	// no call: the loop starts others beside them (window.acquire still bounds the calls).
	waiting atomic.Int64

	mu   sync.Mutex
	out  map[string]uint64 // key → Seq of its record out
	keys map[uint64]string // keys of the records read, by Seq, until they are given back
}

func newKeyOrder(key func([]byte) string) *keyOrder {
	return &keyOrder{key: key, freed: make(chan struct{}, 1), out: map[string]uint64{}, keys: map[uint64]string{}}
}

// next returns the oldest records of distinct keys, none of whose keys is out, up to the
// Flush limit, MaxRecords and batchBytes, read from the spool with their keys; take marks them
// out once they are sent. full says that the batch could take no more: it holds MaxRecords records or
// batchBytes, or a later record of one of its keys waits for it. A record that cannot be read
// for now ends the batch: the records behind it may be of its key.
func (o *keyOrder) next(l *loop, batchBytes int64) (batch []item, full bool) {
	u := l.u
	// The lock is held from the spool's Pending on, so that a record delivered and removed
	// meanwhile cannot be seen pending with its key given back: it would be sent twice.
	o.mu.Lock()
	defer o.mu.Unlock()
	inBatch := map[string]bool{}
	var size int64
	for _, e := range u.spool.Pending(0, orderLookahead) {
		if e.Seq > l.limit {
			break
		}
		if len(batch) == u.limits.MaxRecords || len(batch) > 0 && size+e.Size > batchBytes {
			full = true
			break
		}
		key, known := o.keys[e.Seq]
		var data []byte
		if !known {
			var ok bool
			if data, ok = o.read(u, e); !ok {
				break
			}
			if data == nil {
				continue
			}
			key = o.key(data)
			o.keys[e.Seq] = key
		}
		if _, isOut := o.out[key]; isOut {
			// This record, or an older one of its key, is out.
			continue
		}
		if inBatch[key] {
			full = true
			continue
		}
		if data == nil {
			var ok bool
			if data, ok = o.read(u, e); !ok {
				break
			}
			if data == nil {
				delete(o.keys, e.Seq)
				continue
			}
		}
		inBatch[key] = true
		size += e.Size
		batch = append(batch, item{entry: e, data: data, key: key})
	}
	return batch, full
}

// read reads e from the spool: nil when it is too large to send or damaged (no longer
// pending), false when it cannot be read for now.
func (o *keyOrder) read(u *Uploader, e spool.Entry) ([]byte, bool) {
	if u.quarantineTooLarge(e) {
		return nil, true
	}
	data, err := u.spool.Read(e)
	switch {
	case err == nil:
		return data, true
	case errors.Is(err, spool.ErrCorrupt), errors.Is(err, fs.ErrNotExist):
		// The spool logged it and took it out of the queue.
		return nil, true
	default:
		u.limited.Warn("cannot read a spooled record; will try again", slog.Any(logKeyError, err))
		return nil, false
	}
}

// take marks the keys of batch, which next returned, out.
func (o *keyOrder) take(batch []item) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range batch {
		o.out[it.key] = it.entry.Seq
	}
}

// release gives back the keys of items, whose records are no longer out: delivered,
// quarantined, gone, or left in the spool by a delivery that stopped.
func (o *keyOrder) release(items []item) {
	if len(items) == 0 {
		return
	}
	o.mu.Lock()
	for _, it := range items {
		if seq, ok := o.out[it.key]; ok && seq == it.entry.Seq {
			delete(o.out, it.key)
		}
		delete(o.keys, it.entry.Seq)
	}
	o.mu.Unlock()
	o.signal()
}

// wait waits bo's next backoff before todo, refused, is sent again, counted in o.waiting. Their
// data is dropped meanwhile, to be read again from the spool: a waiting delivery holds no more
// than its keys, however many wait.
func (o *keyOrder) wait(ctx context.Context, bo *backoff.Backoff, todo []item) error {
	for i := range todo {
		todo[i].data = nil
	}
	o.waiting.Add(1)
	defer o.waiting.Add(-1)
	o.signal()
	return bo.Wait(ctx)
}

// signal has the loop look again for records to send.
func (o *keyOrder) signal() {
	select {
	case o.freed <- struct{}{}:
	default:
	}
}
