package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/relp"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// waitSynced waits until the relay's intake log has appended at least n messages and its syncs
// have stopped: every append is synced within the sync interval, so it has synced them all.
func (r *faultRelay) waitSynced(t *testing.T, n int) {
	t.Helper()
	r.waitMetric(t, "kinesyslog_intake_appended_messages_total", fmt.Sprintf("at least %d", n), func(v float64) bool { return v >= float64(n) })
	last, steady := -1.0, 0
	r.waitMetric(t, "kinesyslog_intake_sync_seconds_count", "steady", func(v float64) bool {
		if v == last {
			steady++
		} else {
			last, steady = v, 0
		}
		return steady >= 5
	})
}

// startLogRelay is startFaultRelay with the intake log on.
func startLogRelay(t *testing.T, srv *firehosetest.Server, o faultOptions) *faultRelay {
	t.Helper()
	o.args = append([]string{"--intake-log", "on"}, o.args...)
	return startFaultRelay(t, srv, o)
}

// kill9 kills the relay with SIGKILL and waits until it has exited.
func (r *faultRelay) kill9(t *testing.T) {
	t.Helper()
	if err := r.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r.Wait()
}

// checkLogDelivered checks that each of want was delivered at least once, and that nothing else of
// the senders was, and logs the duplicates.
func checkLogDelivered(t *testing.T, srv *firehosetest.Server, what string, want []string, except ...string) {
	t.Helper()
	delivered := countTokens(t, FirehoseRecords(t, srv))
	dups, missing := 0, 0
	for _, tok := range want {
		switch n := delivered[tok]; {
		case slices.Contains(except, tok):
		case n == 0:
			if missing++; missing <= 10 {
				t.Errorf("%s: %s not delivered", what, tok)
			}
		case n > 1:
			dups += n - 1
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d messages not delivered", what, missing, len(want))
	}
	t.Logf("%s: %d messages delivered, %d duplicates", what, len(want)-missing-len(except), dups)
}

// TestIntakeKill9 kills the relay with SIGKILL while it receives over TCP with Firehose down, so
// that some records are spooled and the rest is in memory, then starts it again on the same
// spool and intake log with Firehose up: every message synced to the log before the kill is
// delivered.
func TestIntakeKill9(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startLogRelay(t, srv, faultOptions{})
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	s := startSender(t, r.tcpPort, "wal", senderOptions{count: 7000, payload: payload})
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	r.waitSynced(t, n)
	r.kill9(t)
	if len(spoolNames(t, r.spoolDir)) == 0 {
		t.Log("nothing was spooled before the kill: every message comes from the intake log")
	}

	srv.SetFault(firehosetest.Fault{})
	again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
	again.waitMetric(t, "kinesyslog_intake_replayed_messages_total", "above 0", func(v float64) bool { return v > 0 })
	stopClean(t, again)
	checkLogDelivered(t, srv, "kill -9 and restart", tokens("wal", n))
}

// TestIntakeDamage damages the intake log a killed relay left, as a crash or a bad disk would:
// a torn record at the end of a segment, a flipped byte inside one entry, and an empty segment
// file. The relay starts all the same, counts the damage, and delivers every intact entry.
func TestIntakeDamage(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	r := startLogRelay(t, srv, faultOptions{})
	// Less than a batch: nothing is spooled before the kill, all of it is in the log only.
	const count = 2000
	s := startSender(t, r.tcpPort, "dmg", senderOptions{count: count, payload: 100})
	n := s.wait(t)
	if s.err != nil || n != count {
		t.Fatalf("sender wrote %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	r.waitSynced(t, n)
	dir := filepath.Join(r.spoolDir, "intake")
	var (
		last string
		data []byte
	)
	// On a loaded machine the last sync may come after the syncs looked steady: wait until the
	// file has the last message (written is enough for a kill -9, which leaves the page cache).
	testenv.EventuallyWithin(t, faultDeadline, "the last message in the log's last segment", func() bool {
		segs, err := filepath.Glob(filepath.Join(dir, "intake-*.seg"))
		if err != nil || len(segs) == 0 {
			return false
		}
		slices.Sort(segs)
		last = segs[len(segs)-1]
		data, err = os.ReadFile(last)
		return err == nil && bytes.Contains(data, []byte(token("dmg", n-1)+" "))
	})
	r.kill9(t)
	if names := spoolNames(t, r.spoolDir); len(names) > 0 {
		t.Fatalf("%d records spooled before the kill, want none", len(names))
	}
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// A flipped byte in the message of one entry.
	flipped := token("dmg", 1000)
	i := bytes.Index(data, []byte(flipped+" "))
	if i < 0 {
		t.Fatalf("%s not in %s", flipped, last)
	}
	data[i+len(flipped)+1] ^= 0x40
	// A torn record at the end: its magic, a length, and less than the length promises.
	data = append(data, "\xf8KIE\x00\x01\x00\x00\x12\x34"...)
	if err := os.WriteFile(last, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty segment after it.
	var num uint64
	if _, err := fmt.Sscanf(filepath.Base(last), "intake-%d.seg", &num); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("intake-%020d.seg", num+1)), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	again := startLogRelay(t, srv, faultOptions{spoolDir: r.spoolDir})
	m := again.Scrape(t)
	for _, kind := range []string{"entry", "tail"} {
		if v := m[`kinesyslog_intake_corrupt_entries_total{kind="`+kind+`"}`]; v < 1 {
			t.Errorf("kinesyslog_intake_corrupt_entries_total{kind=%q} = %v, want at least 1", kind, v)
		}
	}
	stopClean(t, again)
	checkLogDelivered(t, srv, "damaged log", tokens("dmg", n), flipped)
	if got := countTokens(t, FirehoseRecords(t, srv))[flipped]; got != 0 {
		t.Errorf("the damaged entry %s was delivered %d times, want never", flipped, got)
	}
}

// TestIntakeRELP sends messages with the project's RELP client: every one is acknowledged (rsp
// 200) and delivered; then, with Firehose down, every acknowledged message survives a kill -9
// and is delivered after the restart.
func TestIntakeRELP(t *testing.T) {
	srv := firehosetest.Start(t, firehosetest.Config{})
	relpPort := testenv.FreePort(t)
	start := func(spoolDir string) *faultRelay {
		return startLogRelay(t, srv, faultOptions{spoolDir: spoolDir, args: []string{"--relp-port", Port(relpPort)}})
	}
	send := func(t *testing.T, id string, n int) (acked []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
		defer cancel()
		c, err := relp.Dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", Port(relpPort)), relp.ClientOptions{
			OnResponse: func(msg []byte, err error) {
				if err != nil {
					t.Errorf("%.40q refused: %v", msg, err)
					return
				}
				acked = append(acked, faultToken.FindString(string(msg)))
			}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			msg := fmt.Sprintf("<134>1 %s host app - - - %s relp", senderStamp, token(id, i))
			if err := c.Send(ctx, []byte(msg)); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if len(acked) != n {
			t.Errorf("%d of %d messages acknowledged", len(acked), n)
		}
		return acked
	}

	r := start("")
	acked := send(t, "relp", 3000)
	stopClean(t, r)
	checkLogDelivered(t, srv, "RELP", acked)

	r = start(r.spoolDir)
	srv.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
	acked = send(t, "relpkill", 3000)
	r.kill9(t)
	srv.SetFault(firehosetest.Fault{})
	again := start(r.spoolDir)
	stopClean(t, again)
	checkLogDelivered(t, srv, "RELP, kill -9 and restart", acked)
}
