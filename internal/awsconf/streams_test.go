package awsconf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
	"github.com/kinesyslog/kinesyslog/internal/firehose"
	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/kinesis"
	"github.com/kinesyslog/kinesyslog/internal/kinesistest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// accountsProxy returns the URL of a proxy that sends each call to the server of its delivery
// stream (DeliveryStreamName) and every other call to the first server, so that streams of
// several servers, each of its own account, look like one endpoint. Requests pass unchanged, Host
// header included, so that their signatures hold.
func accountsProxy(t *testing.T, servers map[string]*firehosetest.Server, first *firehosetest.Server) string {
	t.Helper()
	proxies := map[*firehosetest.Server]*httputil.ReverseProxy{}
	for _, s := range append([]*firehosetest.Server{first}, mapValues(servers)...) {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxies[s] = httputil.NewSingleHostReverseProxy(u)
	}
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var named struct{ DeliveryStreamName string }
		json.Unmarshal(body, &named) // a body that is not JSON names no stream
		s, ok := servers[named.DeliveryStreamName]
		if !ok {
			s = first
		}
		proxies[s].ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p.URL
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// otherAccount owns the streams "theirs" and "theirs-too" of TestOpenAccounts; the servers'
// default accounts own "ours" and "ours-too".
const otherAccount = "210987654321"

// openFirehose returns an Open of the Firehose destination: streams "ours*" on a server of
// firehosetest.DefaultAccount, "theirs*" on one of otherAccount, behind accountsProxy.
func openFirehose(t *testing.T) func(t *testing.T, streams []string, accountID string) (upload.Destination, error) {
	ours := firehosetest.Start(t, firehosetest.Config{Streams: []string{"ours", "ours-too"}})
	theirs := firehosetest.Start(t, firehosetest.Config{Account: otherAccount, Streams: []string{"theirs", "theirs-too"}})
	endpoint := accountsProxy(t, map[string]*firehosetest.Server{"ours": ours, "ours-too": ours, "theirs": theirs, "theirs-too": theirs}, ours)
	return func(t *testing.T, streams []string, accountID string) (upload.Destination, error) {
		testenv.IsolateAWS(t)
		c := ours.Credentials()
		t.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
		d, err := firehose.Open(t.Context(), firehose.Options{Streams: streams, AccountID: accountID, Region: ours.Config().Region,
			EndpointURL: endpoint, STSEndpointURL: ours.URL, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}

// openKinesis returns an Open of the Kinesis destination: the four streams on kinesalite, whose
// proxy gives "theirs*" otherAccount in their ARNs.
func openKinesis(t *testing.T) func(t *testing.T, streams []string, accountID string) (upload.Destination, error) {
	s := kinesistest.Start(t, kinesistest.Config{Accounts: map[string]string{"theirs": otherAccount, "theirs-too": otherAccount}})
	for _, name := range []string{"ours", "ours-too", "theirs", "theirs-too"} {
		s.CreateStream(t, name, 1)
	}
	return func(t *testing.T, streams []string, accountID string) (upload.Destination, error) {
		testenv.IsolateAWS(t)
		t.Setenv("AWS_ACCESS_KEY_ID", kinesistest.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", kinesistest.SecretAccessKey)
		d, err := kinesis.Open(t.Context(), kinesis.Options{Options: awsconf.Options{Region: kinesistest.Region, Logger: slog.New(slog.DiscardHandler)},
			Streams: streams, AccountID: accountID, EndpointURL: s.URL})
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}

// TestOpenAccounts opens several streams of each AWS destination whose ARNs name chosen
// accounts: streams of one account give it as the owner, streams of several accounts stop Open
// with a definite error naming both, --account-id or not.
func TestOpenAccounts(t *testing.T) {
	destinations := []struct {
		name, prefix string // the error's prefix: service and noun
		open         func(t *testing.T) func(t *testing.T, streams []string, accountID string) (upload.Destination, error)
		account      string // of "ours"
	}{
		{name: "firehose", prefix: "firehose: delivery stream", open: openFirehose, account: firehosetest.DefaultAccount},
		{name: "kinesis", prefix: "kinesis: data stream", open: openKinesis, account: kinesistest.Account},
	}
	for _, dest := range destinations {
		t.Run(dest.name, func(t *testing.T) {
			open := dest.open(t)
			tests := []struct {
				name      string
				streams   []string
				accountID string
				want      string // owner, or the error's words
				wantErr   error
			}{
				{name: "one account", streams: []string{"ours", "ours-too"}, want: dest.account},
				{name: "another account", streams: []string{"theirs", "theirs-too"}, want: otherAccount},
				{name: "two accounts", streams: []string{"ours", "theirs"}, wantErr: awsconf.ErrAccountsDiffer,
					want: dest.prefix + ` "ours" is of account ` + dest.account + `, "theirs" of account ` + otherAccount +
						`: all must be of one account, the records' owner`},
				{name: "two accounts, the other first", streams: []string{"theirs", "ours-too", "ours"}, wantErr: awsconf.ErrAccountsDiffer,
					want: `"theirs" is of account ` + otherAccount + `, "ours-too" of account ` + dest.account},
				{name: "two accounts with an account id", streams: []string{"ours", "theirs"}, accountID: "111122223333",
					wantErr: awsconf.ErrAccountsDiffer, want: "all must be of one account"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					d, err := open(t, tt.streams, tt.accountID)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) || !awsconf.IsDefinite(err) || !strings.Contains(err.Error(), tt.want) {
							t.Fatalf("Open(%q) = %v, %v; want %v saying %s", tt.streams, d, err, tt.wantErr, tt.want)
						}
						return
					}
					if err != nil {
						t.Fatalf("Open(%q) = %v", tt.streams, err)
					}
					done, cancel := context.WithCancel(t.Context())
					cancel()
					if got, err := d.Owner(done); got != tt.want || err != nil {
						t.Errorf("Owner() = %q, %v; want %s", got, err, tt.want)
					}
				})
			}
		})
	}
}
