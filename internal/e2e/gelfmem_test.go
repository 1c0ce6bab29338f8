package e2e

import (
	"bytes"
	"compress/gzip"
	bigendian "encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/gelf"
	"github.com/kinesyslog/kinesyslog/internal/mmsg"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

const (
	// floodSets is how many chunk sets TestGELFChunkFloodMemory opens, each sending floodChunks
	// of a message of gelf.MaxChunks chunks of floodChunkBytes: some 170 MB that never
	// completes, more than twice the Assembler's pending cap, sent round by round so that every
	// set grows at once.
	floodSets       = 3000
	floodChunks     = 40
	floodChunkBytes = 1400
	// gelfPendingCapBytes is the relay's cap on incomplete chunk sets (gelf.DefaultMaxPendingBytes).
	gelfPendingCapBytes = gelf.DefaultMaxPendingBytes
	// floodMarginBytes is what the relay may grow by under the flood of chunk sets beyond their
	// cap: the pending sets' map and lists of pages, and the runtime's slack.
	floodMarginBytes = 16 << 20
	// bombs is how many gzip bombs TestGELFBombFloodMemory sends, each inflating to bombBytes.
	bombs     = 3072
	bombBytes = 1 << 20
	// bombMarginBytes is what the relay may grow by under the flood of bombs beyond the messages
	// it keeps: its heap's growth to the collector's goal, twice the relay's live heap at rest
	// (some 10 MiB), under the garbage of the refusals' errors and of the metrics scrapes.
	bombMarginBytes = 24 << 20
)

// TestGELFChunkFloodMemory opens 3,000 chunk sets of 128 chunks over UDP and sends 40 chunks of
// each (more until the relay evicts), never the last: 170 MB of partial messages against the
// relay's 64 MiB cap on them. Its
// peak resident memory must stay within what it used before, plus the cap, plus a margin, and it
// must have evicted sets to keep within the cap.
func TestGELFChunkFloodMemory(t *testing.T) {
	relay, send := startGELFFlood(t)
	base := residentBytes(t, relay, "VmRSS")
	resetPeakResident(t, relay)

	payload := bytes.Repeat([]byte("x"), floodChunkBytes)
	batch := make([][]byte, 0, 64)
	evicted := func() bool { return relay.Totals(t)["kinesyslog_gelf_chunk_sets_evicted_total"] > 0 }
	// More rounds, never the last chunk, while the kernel dropped too much for the cap to be
	// reached.
	for seq := 0; seq < floodChunks || seq < gelf.MaxChunks-1 && !evicted(); seq++ {
		for set := range floodSets {
			batch = append(batch, gelfChunk(uint64(set), seq, gelf.MaxChunks, payload))
			if len(batch) == cap(batch) {
				send(batch)
				batch = batch[:0]
			}
		}
	}
	send(batch)
	testenv.Eventually(t, "chunk sets evicted for memory", evicted)
	m := checkPeakResident(t, relay, base, gelfPendingCapBytes+floodMarginBytes)
	if v := m["kinesyslog_gelf_pending_chunk_bytes"]; v > gelfPendingCapBytes {
		t.Errorf("pending chunk bytes %v, want at most the cap %d", v, gelfPendingCapBytes)
	}
	relay.Signal(syscall.SIGKILL)
	relay.Wait()
}

// TestGELFBombFloodMemory sends 3,072 gzip datagrams of 1 KB that each inflate to 1 MiB: of NULs,
// which the relay must decompress no further than --max-message-size and refuse as empty, and of
// JSON, which it keeps cut to that size. Its peak resident memory must stay within what it used
// before plus a margin, beyond the messages it keeps, which its buffers' cap bounds.
func TestGELFBombFloodMemory(t *testing.T) {
	for _, c := range []struct {
		name    string
		content func() []byte
		refused bool
		bound   int
	}{
		// Nothing reaches the buffers: what the relay holds is the decompression's alone.
		{name: "NULs", content: func() []byte { return make([]byte, bombBytes) }, refused: true, bound: bombMarginBytes},
		// 3,072 messages of 160 KiB, 480 MiB, for the buffers: at most their cap, and the
		// batches moving behind them, within the soft memory limit (the relay runs with its
		// intake log).
		{name: "JSON", content: func() []byte {
			return append(append([]byte(`{"version":"1.1","host":"h","short_message":"`), bytes.Repeat([]byte("a"), bombBytes)...), `"}`...)
		}, bound: loggedMemoryLimitBytes},
	} {
		t.Run(c.name, func(t *testing.T) {
			relay, send := startGELFFlood(t)
			base := residentBytes(t, relay, "VmRSS")
			resetPeakResident(t, relay)
			var buf bytes.Buffer
			w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			w.Write(c.content())
			w.Close()
			bomb := buf.Bytes()
			series := "kinesyslog_messages_truncated_total"
			if c.refused {
				series = "kinesyslog_datagrams_refused_total"
			}
			// Paced, so that the relay reads most bombs rather than the kernel dropping them.
			read := func() float64 {
				m := relay.Totals(t)
				return m[series] + m["kinesyslog_udp_kernel_drops_total"]
			}
			batch := make([][]byte, 64)
			for i := range batch {
				batch[i] = bomb
			}
			for sent := len(batch); sent <= bombs; sent += len(batch) {
				send(batch)
				testenv.Eventually(t, "bombs read", func() bool { return read() >= float64(sent-4*len(batch)) })
			}
			testenv.Eventually(t, "bombs read", func() bool { return read() >= bombs })
			checkPeakResident(t, relay, base, float64(c.bound))
			relay.Signal(syscall.SIGKILL)
			relay.Wait()
		})
	}
}

// startGELFFlood runs a GELF relay with one UDP port of the longest --max-message-size and
// returns it with a function that sends datagrams to that port.
func startGELFFlood(t *testing.T) (*metricsRelay, func([][]byte)) {
	t.Helper()
	port := testenv.FreePort(t)
	relay := startMetricsRelay(t, "--gelf", "--address", "127.0.0.1", "--udp-port", Port(port),
		"--max-message-size", strconv.Itoa(160<<10))
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w, err := mmsg.NewWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	return relay, func(batch [][]byte) {
		if _, err := w.Write(batch); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

// gelfChunk returns the datagram of chunk seq of count of message id (GELF via UDP, "Chunking").
func gelfChunk(id uint64, seq, count int, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0], b[1] = 0x1e, 0x0f
	bigendian.BigEndian.PutUint64(b[2:10], id)
	b[10], b[11] = byte(seq), byte(count)
	return append(b, payload...)
}

// residentBytes returns the relay's resident set (field "VmRSS") or its peak ("VmHWM") from
// /proc, skipping the test where there is none.
func residentBytes(t *testing.T, relay *metricsRelay, field string) float64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", relay.Cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc status for the relay: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", field, line, err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no %s in the relay's /proc status", field)
	return 0
}

// resetPeakResident starts the relay's VmHWM afresh from its resident set now (proc(5),
// /proc/pid/clear_refs), so that the peak measured is the flood's, not the start's.
func resetPeakResident(t *testing.T, relay *metricsRelay) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", relay.Cmd.Process.Pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the relay's peak resident set: %v", err)
	}
}

// checkPeakResident fails the test when the relay's peak resident set passes base plus bound, and
// returns the relay's metrics.
func checkPeakResident(t *testing.T, relay *metricsRelay, base, bound float64) map[string]float64 {
	t.Helper()
	peak := residentBytes(t, relay, "VmHWM")
	m := relay.Totals(t)
	t.Logf("peak resident memory %.0f MiB (%.0f MiB before, bound %.0f MiB); pending chunk bytes %.0f MiB, "+
		"%v sets evicted, %v datagrams refused, %v messages truncated, %v UDP kernel drops",
		peak/(1<<20), base/(1<<20), (base+bound)/(1<<20), m["kinesyslog_gelf_pending_chunk_bytes"]/(1<<20),
		m["kinesyslog_gelf_chunk_sets_evicted_total"], m["kinesyslog_datagrams_refused_total"],
		m["kinesyslog_messages_truncated_total"], m["kinesyslog_udp_kernel_drops_total"])
	if peak > base+bound {
		t.Errorf("peak resident memory %.0f MiB, want at most %.0f MiB before plus %.0f MiB",
			peak/(1<<20), base/(1<<20), bound/(1<<20))
	}
	return m
}
