package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"

	gogelf "github.com/Graylog2/go-gelf/gelf"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestGELF sends GELF with Graylog's own Go client over UDP (gzip, zlib, uncompressed, and
// messages large enough to be chunked) and TCP, plus pretty-printed JSON over TCP, to a relay
// run with --gelf, and finds each message once with its GELF timestamp.
func TestGELF(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	udpPort, tcpPort := testenv.FreePort(t), testenv.FreePort(t)
	relay := Start(t, Options{
		Args:    []string{"--gelf", "--output", out, "--udp-port", Port(udpPort), "--tcp-port", Port(tcpPort)},
		Metrics: true,
	})
	base := 1_764_038_095.0 // 2025-11-25T02:34:55Z
	want := map[string]struct {
		port  int
		stamp int64
	}{}
	message := func(kind string, i, fullBytes int) *gogelf.Message {
		token := fmt.Sprintf("tok-%s-%d", kind, i)
		stamp := base + float64(i) + 0.125
		want[token] = struct {
			port  int
			stamp int64
		}{map[bool]int{true: tcpPort, false: udpPort}[kind == "tcp"], int64(stamp * 1000)}
		rng := rand.New(rand.NewPCG(uint64(i), uint64(fullBytes)))
		full := make([]byte, fullBytes)
		for j := range full {
			full[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
		}
		return &gogelf.Message{Version: "1.1", Host: "app-7.example.org", Short: "request " + token,
			Full: string(full), TimeUnix: stamp, Level: gogelf.LOG_INFO, Extra: map[string]any{"_token": token}}
	}

	for _, c := range []struct {
		kind        string
		compression gogelf.CompressType
		fullBytes   int
	}{
		{"gzip", gogelf.CompressGzip, 100}, {"zlib", gogelf.CompressZlib, 100}, {"none", gogelf.CompressNone, 100},
		{"chunked", gogelf.CompressGzip, 30_000},
	} {
		w, err := gogelf.NewUDPWriter(fmt.Sprintf("127.0.0.1:%d", udpPort))
		if err != nil {
			t.Fatal(err)
		}
		w.CompressionType = c.compression
		for i := range 20 {
			if err := w.WriteMessage(message(c.kind, i, c.fullBytes)); err != nil {
				t.Fatalf("go-gelf UDP %s: %v", c.kind, err)
			}
		}
		w.Close()
	}
	tw, err := gogelf.NewTCPWriter(fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := tw.WriteMessage(message("tcp", i, 200)); err != nil {
			t.Fatalf("go-gelf TCP: %v", err)
		}
	}
	tw.Close()
	// Pretty-printed JSON: line feeds inside a message, which ends at NUL only.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 110; i++ {
		m := message("tcp", i, 50)
		pretty, _ := json.MarshalIndent(map[string]any{"version": m.Version, "host": m.Host, "short_message": m.Short,
			"full_message": m.Full, "timestamp": m.TimeUnix, "_token": m.Extra["_token"]}, "", "  ")
		conn.Write(append(pretty, 0))
	}
	conn.Close()

	relay.WaitMetric(t, "kinesyslog_messages_received_total", func(v float64) bool { return v >= float64(len(want)) })
	if err := relay.Stop(); err != nil {
		t.Fatalf("relay exit: %v", err)
	}
	found := map[string]int{}
	for _, rec := range Delivered(t, out) {
		for _, ev := range rec.LogEvents {
			var m struct {
				Token string `json:"_token"`
			}
			if err := json.Unmarshal([]byte(ev.Message), &m); err != nil {
				t.Errorf("event is not GELF JSON: %v: %.80q", err, ev.Message)
				continue
			}
			w, ok := want[m.Token]
			if !ok {
				t.Errorf("unexpected event %.80q", ev.Message)
				continue
			}
			found[m.Token]++
			if group := fmt.Sprintf("/kinesyslog/gelf/%d", w.port); rec.LogGroup != group {
				t.Errorf("%s: logGroup %q, want %q", m.Token, rec.LogGroup, group)
			}
			if ev.Timestamp != w.stamp {
				t.Errorf("%s: timestamp %d, want %d", m.Token, ev.Timestamp, w.stamp)
			}
			if strings.HasPrefix(m.Token, "tok-tcp-10") && len(m.Token) == len("tok-tcp-100") && !strings.Contains(ev.Message, "\n") {
				t.Errorf("%s: pretty-printed message lost its line feeds", m.Token)
			}
		}
	}
	checkExactlyOnce(t, want, found)
}
