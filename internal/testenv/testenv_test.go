package testenv

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestEventually(t *testing.T) {
	var calls atomic.Int32
	Eventually(t, "the third call", func() bool { return calls.Add(1) >= 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3: Eventually must stop once it holds", n)
	}
}

func TestFindFreePorts(t *testing.T) {
	seen := map[int]bool{}
	for range 3 {
		ports, err := FindFreePorts(4)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if p < minTestPort || p > maxTestPort {
				t.Errorf("port %d outside %d to %d", p, minTestPort, maxTestPort)
			}
			if seen[p] {
				t.Errorf("port %d returned twice", p)
			}
			seen[p] = true
			address := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			ln, err := net.Listen("tcp", address)
			if err != nil {
				t.Fatalf("listen tcp on a free port: %v", err)
			}
			pc, err := net.ListenPacket("udp", address)
			if err != nil {
				t.Fatalf("listen udp on a free port: %v", err)
			}
			ln.Close()
			pc.Close()
		}
	}
}

func TestFindFreePortsSkipsTaken(t *testing.T) {
	// The next candidate is taken on one address for UDP only: it is skipped.
	next := minTestPort + int(nextPort.Load())%(maxTestPort-minTestPort+1)
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(next)))
	if err != nil {
		t.Skipf("port %d is in use already: %v", next, err)
	}
	defer pc.Close()
	port := FreePort(t)
	if port == next {
		t.Errorf("FreePort() = %d, which is bound for UDP on 127.0.0.1", port)
	}
}

func TestRepeatReader(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		chunk int
		buf   int
		want  string
	}{
		{name: "chunk smaller than buffer", data: "abc", chunk: 2, buf: 8, want: "abcabcab"},
		{name: "buffer smaller than chunk", data: "abc", chunk: 100, buf: 4, want: "abcabcab"},
		{name: "data longer than chunk", data: "abcdefgh", chunk: 3, buf: 3, want: "abcdefghab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &RepeatReader{Data: []byte(tt.data), Chunk: tt.chunk}
			var got []byte
			p := make([]byte, tt.buf)
			for len(got) < len(tt.want) {
				n, err := r.Read(p)
				if err != nil || n == 0 || n > tt.chunk {
					t.Fatalf("Read = %d, %v; want 1 to %d bytes", n, err, tt.chunk)
				}
				got = append(got, p[:n]...)
			}
			if string(got[:len(tt.want)]) != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
	var _ io.Reader = (*RepeatReader)(nil)
}

func TestLookPathMissing(t *testing.T) {
	_, err := LookPath("kinesyslog-no-such-program")
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("LookPath(missing) = %v, want ErrNotInstalled", err)
	}
}

func TestRsyslogCommand(t *testing.T) {
	binary, err := LookPath("rsyslogd")
	if err != nil {
		t.Skip(err)
	}
	tests := []struct {
		name    string
		config  string
		wantErr string
	}{
		{name: "valid", config: `module(load="imptcp")` + "\n" + `input(type="imptcp" address="127.0.0.1" port="20000")` + "\n" + `action(type="omfile" file="/dev/null")`},
		{name: "invalid", config: `input(type="no-such-input")`, wantErr: "rsyslogd -N1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			argv, err := RsyslogCommand(binary, dir, tt.config, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("RsyslogCommand = %v, want an error from %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, "rsyslog.conf")
			want := []string{binary, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid")}
			if strings.Join(argv, " ") != strings.Join(want, " ") {
				t.Errorf("argv = %q, want %q", argv, want)
			}
			b, err := os.ReadFile(conf)
			if err != nil || !strings.HasPrefix(string(b), "global(workDirectory=") || !strings.Contains(string(b), tt.config) {
				t.Errorf("rsyslog.conf = %q, %v; want the work directory, then the configuration", b, err)
			}
		})
	}
}
