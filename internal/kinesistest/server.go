// Package kinesistest runs Kinesis Data Streams for tests: kinesalite (the npm package that
// implements the Kinesis API, installed by .ci/install-npm) on a free loopback port, behind a
// reverse proxy that can refuse entries of a PutRecords answer or whole calls, so that tests
// drive the real AWS SDK for Go v2 over real sockets against a real implementation of the
// service and still see the failures the service gives.
//
// # What kinesalite checks and what it does not
//
// kinesalite keeps streams and shards as the service does: CreateStream with a shard count,
// DescribeStreamSummary, PutRecords (each record hashed by the MD5 of its partition key onto a
// shard, with ShardId and SequenceNumber in the answer, in order within a shard), ListShards,
// GetShardIterator and GetRecords. It validates PutRecords as the service does for 1 to 500
// entries, partition keys of 1 to 256 characters and data of at most 1 MiB, but it does not
// count the partition key in the record's size nor enforce the 5 MiB per call, it never throttles
// (no per-shard 1 MiB/s or 1,000 records/s) and never fails an entry, and it does not check
// signatures. The proxy checks every request's SigV4 signature (firehosetest.VerifySigV4) and
// adds the failures (Fault); the limits are the Destination's own to keep (its unit tests check
// them).
//
// Start skips the test when kinesalite is not installed, or fails it when
// testenv.RequireInteropEnv is 1.
package kinesistest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// Defaults of the server.
const (
	// Account is the account kinesalite puts into stream ARNs.
	Account = "123456789012"
	// Region is the region of the SDK clients; kinesalite answers any.
	Region = "us-east-1"
	// AccessKeyID and SecretAccessKey are the credentials the proxy takes: it checks the SigV4
	// signature of every request (service kinesis, Region) as firehosetest does, which
	// kinesalite does not.
	AccessKeyID     = "AKIDKINESISTEST"
	SecretAccessKey = "kinesistest-secret"
)

// targetPrefix starts the X-Amz-Target header of every Kinesis operation.
const targetPrefix = "Kinesis_20131202."

// Per-entry error codes of PutRecords (API Reference, PutRecordsResultEntry).
const (
	Throttled       = "ProvisionedThroughputExceededException"
	InternalFailure = "InternalFailure"
)

// A Fault says which PutRecords entries or calls the proxy refuses. The zero value refuses
// nothing.
type Fault struct {
	// Entry, when set, is asked for entry i of PutRecords call n (both from 0), with its
	// partition key and data, and returns the error code to refuse it with (Throttled,
	// InternalFailure), or "" to let it through to kinesalite. A refused entry is not stored, as
	// the service does not store it. Calls to Entry are not concurrent.
	Entry func(call, i int, key string, data []byte) string
	// Call, when set, is asked for every call of operation op (such as "PutRecords") to stream
	// (its StreamName) and returns the HTTP status and error code to refuse it with as a whole,
	// or 0 to let it through.
	Call func(op, stream string) (status int, code string)
}

// Stats counts what the proxy saw of PutRecords.
type Stats struct {
	Calls    int // PutRecords calls
	Entries  int // entries in them
	Refused  int // entries the Fault refused
	Resent   int // entries whose data had been refused before
	Repeated int // entries whose data kinesalite had already stored: duplicates
	InFlight int // the most PutRecords calls the proxy was answering at once
}

// Record is a record read back from a stream.
type Record struct {
	ShardID        string
	SequenceNumber string
	PartitionKey   string
	Data           []byte
}

// Server is kinesalite behind the fault-injecting proxy. Its methods are safe for concurrent use.
type Server struct {
	// URL is the proxy's endpoint, for the client under test (its EndpointURL).
	URL string
	// Client talks to kinesalite directly, for setting up streams and reading them back.
	Client *kinesis.Client

	kinesalite  string            // kinesalite's endpoint
	accounts    map[string]string // Config.Accounts
	credentials aws.Credentials
	proxy       *http.Server
	mu          sync.Mutex
	fault       Fault
	stats       Stats
	inflight    int // PutRecords calls being answered
	refused     map[[sha256.Size]byte]bool
	stored      map[[sha256.Size]byte]bool
}

// Config configures a Server. The zero value is ready to use.
type Config struct {
	// CreateStreamDelay is how long a new stream stays CREATING; zero means no time.
	CreateStreamDelay time.Duration
	// Accounts gives streams, by name, another account than Account in the ARNs of
	// DescribeStreamSummary answers, as streams of several accounts have; nil gives none.
	Accounts map[string]string
}

// Start runs kinesalite on a free loopback port and the proxy in front of it; both stop when the
// test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	bin, err := testenv.NPMProgram("kinesalite")
	if err != nil {
		testenv.Missing(tb, err)
	}
	port := testenv.FreePort(tb)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--createStreamMs", strconv.FormatInt(cfg.CreateStreamDelay.Milliseconds(), 10),
		"--deleteStreamMs", "0", "--updateStreamMs", "0", "--shardLimit", "100")
	cmd.Env = append(cmd.Environ(), "AWS_ACCOUNT_ID="+Account)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start kinesalite: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("kinesalite output:\n%s", out.String())
		}
	})
	s := &Server{
		kinesalite:  "http://127.0.0.1:" + strconv.Itoa(port),
		accounts:    cfg.Accounts,
		credentials: aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey},
		refused:     map[[sha256.Size]byte]bool{},
		stored:      map[[sha256.Size]byte]bool{},
	}
	s.Client = kinesis.New(kinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.kinesalite),
		Credentials:  credentials.StaticCredentialsProvider{Value: s.credentials},
		Retryer:      aws.NopRetryer{},
	})
	testenv.Eventually(tb, "kinesalite answering on port "+strconv.Itoa(port), func() bool {
		_, err := s.Client.ListStreams(tb.Context(), &kinesis.ListStreamsInput{})
		return err == nil
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.proxy = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.proxy.Serve(ln)
	tb.Cleanup(func() { s.proxy.Close() })
	return s
}

// CreateStream creates the stream name with shards shards and waits until it is ACTIVE.
func (s *Server) CreateStream(tb testing.TB, name string, shards int) {
	tb.Helper()
	_, err := s.Client.CreateStream(tb.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		tb.Fatalf("create stream %s: %v", name, err)
	}
	testenv.Eventually(tb, "stream "+name+" ACTIVE", func() bool {
		out, err := s.Client.DescribeStreamSummary(tb.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	})
}

// SetFault makes the proxy refuse what f says from now on.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Stats returns what the proxy has seen so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Records reads every record of the stream name back, shard by shard, each shard's records in
// the order of their sequence numbers.
func (s *Server) Records(tb testing.TB, name string) []Record {
	tb.Helper()
	ctx := tb.Context()
	shards, err := s.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		tb.Fatalf("list shards of %s: %v", name, err)
	}
	var recs []Record
	for _, sh := range shards.Shards {
		it, err := s.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			tb.Fatalf("shard iterator of %s/%s: %v", name, aws.ToString(sh.ShardId), err)
		}
		for iter := it.ShardIterator; iter != nil; {
			// kinesalite now and then drops the connection under a GetRecords answer ("use of
			// closed network connection" while it is read); the iterator is good for 5
			// minutes, so the same call is asked again.
			var out *kinesis.GetRecordsOutput
			testenv.Within(10*time.Second, func() bool {
				out, err = s.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
				return err == nil
			})
			if err != nil {
				tb.Fatalf("get records of %s/%s: %v", name, aws.ToString(sh.ShardId), err)
			}
			for _, r := range out.Records {
				recs = append(recs, Record{ShardID: aws.ToString(sh.ShardId), SequenceNumber: aws.ToString(r.SequenceNumber),
					PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data})
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs
}

// putRecordsRequest and putRecordsResponse are the JSON of PutRecords that the proxy rewrites;
// other members of the request pass through.
type (
	putEntry struct {
		Data            []byte  `json:"Data"`
		PartitionKey    string  `json:"PartitionKey"`
		ExplicitHashKey *string `json:"ExplicitHashKey,omitempty"`
	}
	resultEntry struct {
		SequenceNumber string `json:"SequenceNumber,omitempty"`
		ShardID        string `json:"ShardId,omitempty"`
		ErrorCode      string `json:"ErrorCode,omitempty"`
		ErrorMessage   string `json:"ErrorMessage,omitempty"`
	}
	putRecordsResponse struct {
		FailedRecordCount int           `json:"FailedRecordCount"`
		Records           []resultEntry `json:"Records"`
		EncryptionType    string        `json:"EncryptionType,omitempty"`
	}
)

// serve answers one request: refused as Fault says, else forwarded to kinesalite, with the
// entries Fault refuses taken out of a PutRecords call and put back, refused, into its answer.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if code, message := firehosetest.VerifySigV4(r, body, s.credentials, Region, "kinesis"); code != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"__type": code, "message": message})
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	s.mu.Lock()
	f := s.fault
	call := s.stats.Calls
	if op == "PutRecords" {
		s.stats.Calls++
		s.inflight++
		s.stats.InFlight = max(s.stats.InFlight, s.inflight)
		defer func() {
			s.mu.Lock()
			s.inflight--
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	if f.Call != nil {
		var named struct{ StreamName string }
		json.Unmarshal(body, &named) // a body that is not JSON names no stream
		if status, code := f.Call(op, named.StreamName); status != 0 {
			writeJSON(w, status, map[string]string{"__type": code, "message": "refused by kinesistest"})
			return
		}
	}
	if op == "DescribeStreamSummary" && len(s.accounts) > 0 {
		s.describe(w, r, body)
		return
	}
	if op != "PutRecords" {
		s.forward(w, r, body)
		return
	}

	var req map[string]json.RawMessage
	var entries []putEntry
	if err := json.Unmarshal(body, &req); err != nil || json.Unmarshal(req["Records"], &entries) != nil {
		s.forward(w, r, body) // kinesalite words the refusal
		return
	}
	codes := make([]string, len(entries))
	var kept []putEntry
	s.mu.Lock()
	s.stats.Entries += len(entries)
	for i, e := range entries {
		sum := sha256.Sum256(e.Data)
		if s.refused[sum] {
			s.stats.Resent++
		}
		if s.stored[sum] {
			s.stats.Repeated++
		}
		if f.Entry != nil {
			codes[i] = f.Entry(call, i, e.PartitionKey, e.Data)
		}
		if codes[i] != "" {
			s.stats.Refused++
			s.refused[sum] = true
			continue
		}
		kept = append(kept, e)
	}
	s.mu.Unlock()

	var answer putRecordsResponse
	if len(kept) > 0 {
		req["Records"], _ = json.Marshal(kept)
		fwd, _ := json.Marshal(req)
		status, resp, err := s.send(r, fwd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if status != http.StatusOK || json.Unmarshal(resp, &answer) != nil || len(answer.Records) != len(kept) {
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			w.WriteHeader(status)
			w.Write(resp)
			return
		}
	}
	merged := make([]resultEntry, len(entries))
	next := 0
	s.mu.Lock()
	for i, code := range codes {
		if code != "" {
			merged[i] = resultEntry{ErrorCode: code, ErrorMessage: "refused by kinesistest"}
			answer.FailedRecordCount++
			continue
		}
		merged[i] = answer.Records[next]
		if merged[i].SequenceNumber != "" {
			s.stored[sha256.Sum256(entries[i].Data)] = true
		}
		next++
	}
	s.mu.Unlock()
	answer.Records = merged
	writeJSON(w, http.StatusOK, answer)
}

// describe forwards a DescribeStreamSummary call to kinesalite and answers it with the account
// of Config.Accounts in the stream's ARN.
func (s *Server) describe(w http.ResponseWriter, r *http.Request, body []byte) {
	status, resp, err := s.send(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var named struct{ StreamName string }
	json.Unmarshal(body, &named) // kinesalite answered it: a body that is not JSON names no stream
	account, ok := s.accounts[named.StreamName]
	var answer struct{ StreamDescriptionSummary map[string]any }
	if status != http.StatusOK || !ok || json.Unmarshal(resp, &answer) != nil {
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(status)
		w.Write(resp)
		return
	}
	if a, ok := answer.StreamDescriptionSummary["StreamARN"].(string); ok {
		answer.StreamDescriptionSummary["StreamARN"] = strings.Replace(a, ":"+Account+":", ":"+account+":", 1)
	}
	writeJSON(w, http.StatusOK, answer)
}

// forward sends body to kinesalite as r was sent and copies the answer to w.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	status, resp, err := s.send(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
	w.WriteHeader(status)
	w.Write(resp)
}

// send posts body to kinesalite with r's headers and returns its status and body.
func (s *Server) send(r *http.Request, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.kinesalite+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"} {
		req.Header.Set(h, r.Header.Get(h))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("kinesistest: forward to kinesalite: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("kinesistest: read kinesalite's answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(b)
}
