package firehose

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
)

// failOp answers every call of the operation op with cf.
func failOp(op string, cf firehosetest.CallFault) firehosetest.Fault {
	return firehosetest.Fault{Call: func(got string, _ int) firehosetest.CallFault {
		if got == op {
			return cf
		}
		return firehosetest.NoFault
	}}
}

func readOwnerFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, awsconf.OwnerFile))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestOpenOwner checks where Open learns the records' owner: --account-id first, else the
// account in the delivery stream's ARN without asking STS, else STS; what AWS gave is kept in the
// state directory, and a definite refusal stops Open.
func TestOpenOwner(t *testing.T) {
	const account = "210987654321"
	tests := []struct {
		name      string
		accountID string
		fault     firehosetest.Fault
		stream    string
		want      string
		wantSTS   int    // GetCallerIdentity calls
		wantFile  string // the owner file afterwards
		wantErr   error
	}{
		{name: "account id", accountID: "111122223333", want: "111122223333"},
		{name: "stream ARN", want: account, wantFile: account},
		{name: "STS when Firehose does not answer", fault: failOp("DescribeDeliveryStream", firehosetest.Throttle),
			want: account, wantSTS: 1, wantFile: account},
		{name: "stream missing", stream: "missing", wantErr: ErrStreamNotFound},
		{name: "STS refuses", fault: func() firehosetest.Fault {
			return firehosetest.Fault{Call: func(op string, _ int) firehosetest.CallFault {
				switch op {
				case "DescribeDeliveryStream":
					return firehosetest.Throttle
				case "GetCallerIdentity":
					return firehosetest.AccessDenied
				}
				return firehosetest.NoFault
			}}
		}(), wantSTS: 1, wantErr: ErrAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, firehosetest.Config{Account: account})
			s.SetFault(tt.fault)
			dir := t.TempDir()
			o := options(t, s, func(o *Options) {
				o.AccountID, o.StateDir = tt.accountID, dir
				if tt.stream != "" {
					o.Streams = []string{tt.stream}
				}
			})
			d, err := Open(t.Context(), o)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || d != nil {
					t.Fatalf("Open() = %v, %v; want %v", d, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			done, cancel := context.WithCancel(t.Context())
			cancel()
			if got, err := d.Owner(done); got != tt.want || err != nil {
				t.Errorf("Owner() = %q, %v; want %s", got, err, tt.want)
			}
			if n := s.Stats().Calls["GetCallerIdentity"]; n != tt.wantSTS {
				t.Errorf("%d GetCallerIdentity calls, want %d", n, tt.wantSTS)
			}
			if got := readOwnerFile(t, dir); got != tt.wantFile {
				t.Errorf("owner file = %q, want %q", got, tt.wantFile)
			}
			if err := d.Run(t.Context()); err != nil {
				t.Errorf("Run() with the owner known = %v", err)
			}
		})
	}
}

// TestOwnerLearnedInRun starts while AWS refuses every connection: the Destination opens, with
// the owner an earlier run kept or none, and Run learns it from the stream's ARN once AWS is
// back.
func TestOwnerLearnedInRun(t *testing.T) {
	const account = "210987654321"
	tests := []struct {
		name      string
		kept      string // in the owner file before Open
		wantStart string // Owner while AWS is down
		warning   string
	}{
		{name: "no owner yet", warning: "records wait for the account ID"},
		{name: "kept by an earlier run", kept: account, wantStart: account, warning: "using the account ID learned before"},
		{name: "another account kept", kept: "111122223333", wantStart: "111122223333", warning: "using the account ID learned before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := firehosetest.Start(t, firehosetest.Config{Account: account})
			dir := t.TempDir()
			if tt.kept != "" {
				if err := os.WriteFile(filepath.Join(dir, awsconf.OwnerFile), []byte(tt.kept+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s.SetFault(firehosetest.Fault{Outage: firehosetest.OutageRefuse})
			// Read only before Run starts, which writes to it too.
			var log bytes.Buffer
			o := options(t, s, func(o *Options) {
				o.StateDir = dir
				o.Logger = slog.New(slog.NewTextHandler(&log, nil))
			})
			d, err := Open(t.Context(), o)
			if err != nil {
				t.Fatalf("Open() while AWS is down = %v, want a Destination", err)
			}
			for _, w := range []string{"cannot reach Firehose: starting anyway", tt.warning} {
				if !strings.Contains(log.String(), w) {
					t.Errorf("no warning %q in the log:\n%s", w, log.String())
				}
			}
			short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
			got, err := d.Owner(short)
			cancel()
			if tt.wantStart == "" {
				if err == nil || !strings.Contains(err.Error(), "record owner unknown") {
					t.Errorf("Owner() while AWS is down = %q, %v; want the owner unknown", got, err)
				}
			} else if got != tt.wantStart || err != nil {
				t.Errorf("Owner() while AWS is down = %q, %v; want %s", got, err, tt.wantStart)
			}

			// AWS comes back before Run starts: a first attempt of Run's that still met the
			// outage would fall back to STS, which this test counts.
			s.SetFault(firehosetest.Fault{})
			ran := make(chan error, 1)
			go func() { ran <- d.Run(t.Context()) }()
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run() = %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run() has not learned the owner 30 s after AWS came back")
			}
			// Records of one run keep one owner: one kept from before stays until restart.
			want := tt.wantStart
			if want == "" {
				want = account
			}
			if got, err := d.Owner(t.Context()); got != want || err != nil {
				t.Errorf("Owner() after Run = %q, %v; want %s", got, err, want)
			}
			if got := readOwnerFile(t, dir); got != account {
				t.Errorf("owner file after Run = %q, want %s, what AWS answers", got, account)
			}
			if n := s.Stats().Calls["GetCallerIdentity"]; n != 0 {
				t.Errorf("%d GetCallerIdentity calls, want none: the stream's ARN names the account", n)
			}
		})
	}
}
