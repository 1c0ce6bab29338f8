package intake

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// Append adds the entries of b to the log, copying its bytes, and returns the position after
// them, which WaitSynced takes. It takes the log's lock once for the whole batch, does not
// allocate, and encodes nothing: the entries were encoded by Batch.Add. The entries reach the
// disk in the next round of Run: within Options.SyncInterval, or at once for a WaitSynced caller.
// b is not changed and may be reused once Append returns.
//
// Append blocks while the batch would take the log past Options.MaxBytes, until releases free
// segments, and while 8 MiB wait to be written, until Run takes them; or until ctx is done (then
// it returns ctx's error, wrapped). Nothing of the batch is appended
// when it returns an error: ErrTooLarge, ErrOrder, ErrClosed, or the write error that stopped
// the log.
func (l *Log) Append(ctx context.Context, b *Batch) (Position, error) {
	if b.err != nil {
		return 0, b.err
	}
	n := int64(len(b.buf))
	if n > l.maxBytes/4 {
		return 0, fmt.Errorf("intake: append: batch of %d bytes: %w for a log of at most %d bytes",
			n, ErrTooLarge, l.maxBytes)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.waitRoomLocked(ctx, n); err != nil {
		return 0, err
	}
	if err := l.checkOrderLocked(b.entries); err != nil {
		return 0, err
	}
	wasEmpty := len(l.buf) == 0
	// Room for the batch and the headers of the segments it may start, so that the round buffer
	// seldom has to move.
	l.buf = slices.Grow(l.buf, len(b.buf)+segmentHeaderBytes*int(n/l.segmentBytes+2))
	seg := l.segs[len(l.segs)-1]
	var (
		st    *stream
		stNum uint64
	)
	from, start := 0, 0 // b.buf[from:start] goes to seg, not yet copied
	for i := range b.entries {
		e := &b.entries[i]
		size := e.end - start
		if seg.bytes+int64(size) > l.segmentBytes && seg.bytes > int64(segmentHeaderBytes) {
			l.buf = append(l.buf, b.buf[from:start]...)
			from = start
			seg = l.startSegmentLocked(seg.num + 1)
		}
		l.grewLocked(seg, size)
		start = e.end
		seg.unreleased++
		seg.maxReceived = max(seg.maxReceived, e.received)
		if st == nil || stNum != e.stream {
			stNum, st = e.stream, l.streams[e.stream]
			if st == nil {
				st = &stream{}
				l.streams[e.stream] = st
			}
		}
		st.add(seg, e.seq)
	}
	l.buf = append(l.buf, b.buf[from:]...)
	l.metrics.appended.Add(float64(len(b.entries)))
	if wasEmpty {
		l.pendingSince = time.Now()
		l.wake()
	}
	return l.appended, nil
}

// grewLocked counts n bytes just appended to buf for seg.
func (l *Log) grewLocked(seg *segment, n int) {
	seg.bytes += int64(n)
	l.bytes += int64(n)
	l.appended += Position(n)
}

// wake tells Run that something changed, without blocking.
func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// maxPendingBytes bounds what is appended and not yet written: past it, appends wait for the
// writer, so that a disk slower than the senders makes backpressure instead of memory use. It is
// about 50 ms of the bench's TCP load (700,000 messages a second, some 250 bytes each in the
// log), five sync intervals, because a round written with O_DIRECT takes as long as the disk
// does: at 4 MiB, readers (which wait for 1 MiB of room) waited for the writer under that load;
// 8 MiB took 7% more messages a second at 0.1 CPU-s per million less (BENCHMARKS.md, session
// 7), for about 10 MiB more memory.
const maxPendingBytes = 8 << 20

// waitRoomLocked waits, unlocking meanwhile, until n more bytes fit under the cap and under
// maxPendingBytes.
func (l *Log) waitRoomLocked(ctx context.Context, n int64) error {
	waiting, waitingFull := false, false
	defer func() {
		if waiting {
			l.metrics.blocked.Dec()
		}
		if waitingFull {
			l.fullWaiters--
		}
	}()
	for {
		if l.closed {
			return ErrClosed
		}
		if l.err != nil {
			return l.err
		}
		full := l.bytes+n > l.maxBytes
		behind := len(l.buf) > 0 && int64(len(l.buf))+n > maxPendingBytes
		short := !full && !behind && l.diskShortLocked(n)
		if !full && !behind && !short {
			return nil
		}
		if !waiting {
			waiting = true
			l.metrics.blocked.Inc()
		}
		switch {
		case full && !waitingFull:
			l.fullWaiters++
		case !full && waitingFull:
			l.fullWaiters--
		}
		waitingFull = full
		var ch <-chan struct{} = l.freedCh
		var poll <-chan time.Time
		if short {
			// Space comes back from others (the spool's uploads): look again now and then.
			poll = time.After(diskPoll)
			l.rlog.Warn("intake log: disk nearly full: appends wait, leaving the spool room to write records",
				slog.String(logKeyDir, l.dir), slog.Int64("free_bytes", l.disk.free), slog.Int64("reserve_bytes", l.disk.reserve))
		} else if full {
			l.rlog.Warn("intake log full: appends wait for releases", slog.String(logKeyDir, l.dir),
				slog.Int64("bytes", l.bytes), slog.Int64("max_bytes", l.maxBytes))
		} else {
			// The disk is behind: wait for the round that takes the buffer, and start it now.
			ch = l.askSyncLocked()
		}
		if err := l.waitLocked(ctx, ch, poll); err != nil {
			return fmt.Errorf("intake: wait for room: %w", err)
		}
		if short {
			l.measureDiskLocked(l.synced)
		}
	}
}

// checkOrderLocked checks that every entry's Seq is above the last Seq of its stream, in the log
// or earlier in the batch. Runs of one stream cost one map look-up.
func (l *Log) checkOrderLocked(entries []batchEntry) error {
	clear(l.scratch)
	var prev *batchEntry
	for i := range entries {
		e := &entries[i]
		if prev != nil && prev.stream == e.stream {
			if e.seq <= prev.seq {
				return orderError(e, prev.seq)
			}
			prev = e
			continue
		}
		if prev != nil {
			l.scratch[prev.stream] = prev.seq
		}
		prev = e
		last, ok := l.scratch[e.stream]
		if !ok {
			st := l.streams[e.stream]
			if st == nil || len(st.spans) == 0 {
				continue
			}
			last = st.spans[len(st.spans)-1].last
		}
		if e.seq <= last {
			return orderError(e, last)
		}
	}
	return nil
}

func orderError(e *batchEntry, last uint64) error {
	return fmt.Errorf("intake: append: stream %d: entry %d after %d: %w", e.stream, e.seq, last, ErrOrder)
}

// startSegmentLocked makes segment num the one appends go to, its header pending in buf.
func (l *Log) startSegmentLocked(num uint64) *segment {
	seg := &segment{num: num, start: l.appended}
	l.segs = append(l.segs, seg)
	last := &l.cuts[len(l.cuts)-1]
	if last.seg == nil {
		last.seg = seg
	} else {
		last.end = len(l.buf)
		l.cuts = append(l.cuts, cut{seg: seg})
	}
	start := len(l.buf)
	l.buf = appendSegmentHeader(l.buf, l.nextStream.Load())
	l.grewLocked(seg, len(l.buf)-start)
	return seg
}

// WaitSynced returns once everything appended up to p is written and fdatasynced, asking Run to
// sync at once rather than at the end of the interval. All waiters share one broadcast per sync:
// waiting costs no goroutine. It returns early with ctx's error, ErrClosed after Close, or the
// error that stopped the log.
func (l *Log) WaitSynced(ctx context.Context, p Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		switch {
		case l.synced >= p:
			return nil
		case l.err != nil:
			return l.err
		case l.done:
			return ErrClosed
		}
		if err := l.waitLocked(ctx, l.askSyncLocked(), nil); err != nil {
			return fmt.Errorf("intake: wait for sync: %w", err)
		}
	}
}

// askSyncLocked asks Run for a round at once and returns the channel closed when the next one
// ends. The caller holds mu.
func (l *Log) askSyncLocked() <-chan struct{} {
	if !l.wantSync {
		l.wantSync = true
		l.wake()
	}
	return l.syncedCh
}

// waitLocked unlocks mu until ch is closed, poll fires (nil: never) or ctx is done, whose error
// it then returns, and locks it again. The caller holds mu.
func (l *Log) waitLocked(ctx context.Context, ch <-chan struct{}, poll <-chan time.Time) error {
	l.mu.Unlock()
	defer l.mu.Lock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
	case <-poll:
	}
	return nil
}

// Release tells the log that the entries of runs are inside records that are spooled and synced,
// so that they are not replayed after a restart and their segments can go. It appends a release
// marker (written with the next round of Run) and never blocks on the disk. Runs that are already
// released, or were never appended, are ignored.
func (l *Log) Release(runs []Run) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	wasEmpty := len(l.buf) == 0
	seg := l.segs[len(l.segs)-1]
	for len(runs) > 0 {
		// Only runs that released something go in the marker.
		l.released = l.released[:0]
		for _, r := range runs[:min(len(runs), maxRunsPerMarker)] {
			if l.releaseRun(r) > 0 {
				l.released = append(l.released, r)
			}
		}
		runs = runs[min(len(runs), maxRunsPerMarker):]
		if len(l.released) == 0 {
			continue
		}
		start := len(l.buf)
		l.buf = appendRelease(l.buf, l.released)
		l.grewLocked(seg, len(l.buf)-start)
	}
	if wasEmpty && len(l.buf) > 0 {
		l.pendingSince = time.Now()
		l.wake()
	}
	return nil
}

// releaseRun marks the entries of r released and returns how many were unreleased.
func (l *Log) releaseRun(r Run) int64 {
	st := l.streams[r.Stream]
	if st == nil || r.Last < r.First {
		return 0
	}
	n := st.release(r.First, r.Last)
	if len(st.spans) == 0 {
		delete(l.streams, r.Stream)
	}
	return n
}

// add records entry seq, appended to seg; seq is above every Seq of st.
func (st *stream) add(seg *segment, seq uint64) {
	if n := len(st.spans); n > 0 && st.spans[n-1].seg == seg && st.spans[n-1].last+1 == seq {
		st.spans[n-1].last = seq
		return
	}
	st.spans = append(st.spans, span{first: seq, last: seq, seg: seg})
}

// release removes first to last from st's spans, counting them off their segments, and returns
// how many entries it removed.
func (st *stream) release(first, last uint64) int64 {
	var n int64
	i := sort.Search(len(st.spans), func(i int) bool { return st.spans[i].last >= first })
	for i < len(st.spans) && st.spans[i].first <= last {
		s := &st.spans[i]
		lo, hi := max(s.first, first), min(s.last, last)
		k := int64(hi - lo + 1)
		s.seg.unreleased -= k
		n += k
		switch {
		case lo == s.first && hi == s.last:
			st.spans = slices.Delete(st.spans, i, i+1)
		case lo == s.first:
			s.first = hi + 1
			i++
		case hi == s.last:
			s.last = lo - 1
			i++
		default:
			rest := span{first: hi + 1, last: s.last, seg: s.seg}
			s.last = lo - 1
			st.spans = slices.Insert(st.spans, i+1, rest)
			i += 2
		}
	}
	return n
}
