package firehosetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"maps"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Defaults the zero Config gets. The credentials are not real ones; they only have to match on
// both sides.
const (
	DefaultRegion          = "us-east-1"
	DefaultAccessKeyID     = "AKIAKINESYSLOGTEST01"
	DefaultSecretAccessKey = "kinesyslog/firehosetest/secret/access/key"
	DefaultAccount         = "123456789012"
	DefaultStream          = "kinesyslog-test"
)

// The Amazon Data Firehose PutRecordBatch quotas ("Each PutRecordBatch request supports up to 500
// records. Each record in the request can be as large as 1,000 KB (before base64 encoding), up to
// a limit of 4 MB for the entire request. These limits cannot be changed."). The service's own
// validation message spells the record limit 1024000; "4 MB" is read strictly as 4,000,000.
// They are spelled out here rather than taken from package firehose so that the server stays an
// independent model of the service the client is tested against.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 4_000_000
	MaxRecordBytes  = 1_024_000
)

// maxRequestBytes caps how much of a request body the server reads. Base64 makes 4 MB of data
// about 5.4 MB of JSON; anything past this cap certainly holds more than MaxBatchBytes of data.
const maxRequestBytes = 16 << 20

// Config configures a Server. Every zero field takes its default.
type Config struct {
	// Region is the region requests must be signed for; zero means DefaultRegion.
	Region string
	// AccessKeyID and SecretAccessKey are the only credentials the server accepts; zero means
	// DefaultAccessKeyID and DefaultSecretAccessKey.
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must come with every request (X-Amz-Security-Token), as with
	// temporary credentials; zero means requests must carry none.
	SessionToken string
	// Account is the account id GetCallerIdentity answers and ARNs contain; zero means
	// DefaultAccount.
	Account string
	// Streams are the delivery streams that exist, all ACTIVE; nil means one, DefaultStream.
	Streams []string
	// Quota is every stream's throughput quota, those SetStream creates included, until
	// SetQuota changes one; the zero Quota is unlimited.
	Quota Quota
	// MaxBatchRecords, MaxBatchBytes and MaxRecordBytes are the PutRecordBatch limits; zero means
	// the service's own (the package constants). Lower them to imitate a service stricter than
	// the client expects.
	MaxBatchRecords int
	MaxBatchBytes   int
	MaxRecordBytes  int
	// MaxBodyBytes, when not zero, is the largest request body a proxy in front of the service
	// lets through: a request that declares a longer one is answered HTTP 413 with an HTML body,
	// as nginx answers past its client_max_body_size.
	MaxBodyBytes int
	// UplinkBytesPerSecond, when not zero, is the rate of the link between clients and the
	// server, shared by every connection as a slow uplink is: the server reads requests, headers
	// included, at this rate in all. What a client sent and the link has not carried yet waits in
	// the sockets' buffers, so a call whose client gave up may still be carried out.
	UplinkBytesPerSecond int
	// Role, when its ARN is set, is a role in another account that STS lets the credentials
	// above assume (AssumeRole), and then the only identity Firehose serves: its calls must be
	// signed with the temporary credentials AssumeRole issued, session token included, before
	// they expire, and are refused (AccessDeniedException) with the credentials above.
	Role Role
	// Seed seeds the random choices of fault rates, so that a test can repeat a sequence.
	Seed uint64
}

func (c Config) withDefaults() Config {
	orDefault(&c.Region, DefaultRegion)
	orDefault(&c.AccessKeyID, DefaultAccessKeyID)
	orDefault(&c.SecretAccessKey, DefaultSecretAccessKey)
	orDefault(&c.Account, DefaultAccount)
	orDefault(&c.MaxBatchRecords, MaxBatchRecords)
	orDefault(&c.MaxBatchBytes, MaxBatchBytes)
	orDefault(&c.MaxRecordBytes, MaxRecordBytes)
	if c.Streams == nil {
		c.Streams = []string{DefaultStream}
	}
	return c
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// A Record is one record the server accepted.
type Record struct {
	Stream string // delivery stream name
	ID     string // the RecordId the server answered
	Data   []byte
}

// Stats counts what the server saw. Refused connections (OutageRefuse) are not seen at all.
type Stats struct {
	// Requests is the number of HTTP requests that reached the server.
	Requests int
	// AuthFailures is the number of requests refused for their signature or credentials.
	AuthFailures int
	// Calls counts authenticated calls by operation name, whatever their outcome.
	Calls map[string]int
	// Faults is the number of requests answered (or left unanswered) by an injected fault.
	Faults int
	// RecordsAccepted and RecordsFailed count the records of PutRecordBatch calls that went ahead.
	RecordsAccepted int
	RecordsFailed   int
	// Duplicates counts the records accepted whose data the server had accepted before (by
	// SHA-256): the copies a client that resends delivered records makes the destination store.
	Duplicates int
	// Throttled counts the PutRecordBatch calls a stream's Quota refused, as a whole or some of
	// their records; RecordsThrottled the records it refused (also counted in RecordsFailed).
	Throttled        int
	RecordsThrottled int
}

// A Server is a Firehose and STS endpoint on 127.0.0.1. Create it with Start; its methods are
// safe for concurrent use.
//
// It runs an http.Server of its own rather than an httptest.Server because an outage must close
// the listening socket, so that connections are refused, and listen again on the same address
// when it ends; an httptest.Server cannot start twice.
type Server struct {
	// URL is the endpoint, "http://127.0.0.1:PORT", for both Firehose and STS. It does not change
	// for the life of the server, outages included.
	URL string

	tb     testing.TB
	cfg    Config
	signer signer
	addr   string
	link   *link // nil without an UplinkBytesPerSecond
	http   *http.Server
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	roleAccount string // of Config.Role; "" without a role

	mu       sync.Mutex
	closed   bool
	listener net.Listener // nil while connections are refused
	conns    map[net.Conn]struct{}
	fault    Fault
	changed  chan struct{} // closed and replaced by every SetFault
	streams  map[string]string
	meters   map[string]*meter // the quotas of streams that have one
	faults   map[string]Fault  // SetStreamFault's
	records  []Record
	seen     map[[sha256.Size]byte]struct{} // the data of every accepted record
	sessions map[string]session             // by access key id: what AssumeRole issued
	stats    Stats
	rand     *mathrand.Rand
}

// Start starts a server for the length of the test: it listens on 127.0.0.1 and port 0, fails the
// test if it cannot, and closes itself when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	cfg = cfg.withDefaults()
	roleAccount, err := roleAccount(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("firehosetest: listen: %v", err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		tb:   tb,
		cfg:  cfg,
		addr: ln.Addr().String(),
		signer: signer{
			accessKeyID:     cfg.AccessKeyID,
			secretAccessKey: cfg.SecretAccessKey,
			sessionToken:    cfg.SessionToken,
			region:          cfg.Region,
		},
		done:    make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
		changed: make(chan struct{}),
		streams: make(map[string]string),
		meters:  make(map[string]*meter),
		faults:  make(map[string]Fault),
		seen:    make(map[[sha256.Size]byte]struct{}),
		stats:   Stats{Calls: make(map[string]int)},
		rand:    mathrand.New(mathrand.NewPCG(cfg.Seed, cfg.Seed)),
	}
	s.roleAccount, s.sessions = roleAccount, make(map[string]session)
	for _, name := range cfg.Streams {
		s.streams[name] = "ACTIVE"
		s.setQuota(name, cfg.Quota)
	}
	if cfg.UplinkBytesPerSecond > 0 {
		s.link = &link{rate: float64(cfg.UplinkBytesPerSecond), done: s.done}
	}
	s.http = &http.Server{
		Handler:   s,
		ConnState: s.trackConn,
		// Dropped connections are the point of several faults; their log lines are noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// serve starts serving ln; s.mu must be held, or s not yet shared.
func (s *Server) serve(ln net.Listener) {
	s.listener = ln
	var served net.Listener = ln
	if s.link != nil {
		served = linkListener{ln, s.link}
	}
	s.wg.Go(func() {
		// Serve returns when ln is closed, by an OutageRefuse or by Close.
		_ = s.http.Serve(served)
	})
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case http.StateNew:
		s.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(s.conns, c)
	}
}

// Close stops the server: it closes the listener and every connection, and releases held
// requests. It may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	_ = s.http.Close()
	s.wg.Wait()
}

// SetFault makes the server misbehave as f says from now on; the zero Fault heals it. Requests
// held by OutageHang or Latency are released when the fault changes. Ending an OutageRefuse
// listens again on the same address, and fails the test if that address is taken meanwhile.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.fault = f
	close(s.changed)
	s.changed = make(chan struct{})
	switch {
	case f.Outage == OutageRefuse && s.listener != nil:
		_ = s.listener.Close()
		s.listener = nil
		for c := range s.conns {
			_ = c.Close()
		}
	case f.Outage != OutageRefuse && s.listener == nil:
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			s.tb.Errorf("firehosetest: listen again on %s after the outage: %v", s.addr, err)
			return
		}
		s.serve(ln)
	}
}

// SetStream creates the delivery stream name, or changes its status: "ACTIVE", "CREATING",
// "DELETING", "CREATING_FAILED" or "DELETING_FAILED". Only an ACTIVE stream accepts records. A
// stream it creates gets Config.Quota.
func (s *Server) SetStream(name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[name]; !ok {
		s.setQuota(name, s.cfg.Quota)
	}
	s.streams[name] = status
}

// SetQuota gives the delivery stream name the throughput quota q from now on, its buckets full;
// the zero Quota lifts it.
func (s *Server) SetQuota(name string, q Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setQuota(name, q)
}

// setQuota is SetQuota with s.mu held, or s not yet shared.
func (s *Server) setQuota(name string, q Quota) {
	if q == (Quota{}) {
		delete(s.meters, name)
		return
	}
	s.meters[name] = newMeter(q, s.cfg.MaxRecordBytes, time.Now())
}

// SetStreamFault makes calls naming the delivery stream name misbehave as f says from now on,
// in place of the fault SetFault set: f's Latency, call-level fault and record failures apply to
// them (its Outage does not: an outage takes the whole endpoint down). The zero Fault heals the
// stream, and leaves it to SetFault's fault again.
func (s *Server) SetStreamFault(name string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.healthy() {
		delete(s.faults, name)
	} else {
		s.faults[name] = f
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// streamFault returns the fault SetStreamFault set for the stream a Firehose call names, and the
// channel that announces the next change, if there is one.
func (s *Server) streamFault(body []byte) (Fault, <-chan struct{}, bool) {
	s.mu.Lock()
	empty := len(s.faults) == 0
	s.mu.Unlock()
	if empty {
		// Decoding a call of 5 MB is not free: only calls that could be affected pay for it.
		return Fault{}, nil, false
	}
	var in struct{ DeliveryStreamName string }
	if json.Unmarshal(body, &in) != nil {
		return Fault{}, nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[in.DeliveryStreamName]
	return f, s.changed, ok
}

// Records returns every record the server accepted, in the order it accepted them. The slice is
// the caller's; the Data it points to is shared and must not be changed.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.records)
}

// Stats returns a copy of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = maps.Clone(s.stats.Calls)
	return st
}

// Config returns the server's configuration with every default filled in.
func (s *Server) Config() Config {
	c := s.cfg
	c.Streams = slices.Clone(c.Streams)
	return c
}

// Credentials returns the credentials the server accepts, for a static credentials provider.
func (s *Server) Credentials() aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     s.cfg.AccessKeyID,
		SecretAccessKey: s.cfg.SecretAccessKey,
		SessionToken:    s.cfg.SessionToken,
		Source:          "firehosetest",
	}
}

// Environ returns the environment ("NAME=value") that points an AWS SDK program at the server
// and gives it the server's credentials and region: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL_FIREHOSE, AWS_ENDPOINT_URL_STS, and
// AWS_EC2_METADATA_DISABLED=true so that nothing reaches for the instance metadata service.
func (s *Server) Environ() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + s.cfg.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + s.cfg.SessionToken,
		"AWS_REGION=" + s.cfg.Region,
		"AWS_ENDPOINT_URL_FIREHOSE=" + s.URL,
		"AWS_ENDPOINT_URL_STS=" + s.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// hold keeps a request until d has passed (forever if d < 0) or the fault changes, and reports
// true then; it reports false, at once, when the client gives up or the server closes.
func (s *Server) hold(ctx context.Context, d time.Duration, changed <-chan struct{}) bool {
	var expired <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-expired:
		return true
	case <-changed:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// snapshot counts a request and returns the fault in force and the channel that announces its
// next change.
func (s *Server) snapshot() (Fault, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	return s.fault, s.changed
}

// admit counts an authenticated call and decides its fate.
func (s *Server) admit(op string, f Fault) (n int, cf CallFault) {
	s.mu.Lock()
	s.stats.Calls[op]++
	n = s.stats.Calls[op]
	if f.Call == nil && op == opPutRecordBatch {
		switch {
		case f.ThrottleRate > 0 && s.rand.Float64() < f.ThrottleRate:
			cf = Throttle
		case f.InternalErrorRate > 0 && s.rand.Float64() < f.InternalErrorRate:
			cf = InternalError
		}
	}
	s.mu.Unlock()
	if f.Call != nil {
		cf = f.Call(op, n)
	}
	if cf != NoFault {
		s.countFault()
	}
	return n, cf
}

func (s *Server) countFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Faults++
}

func (s *Server) countAuthFailure() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.AuthFailures++
}

// recordFate decides whether record i of call n is refused.
func (s *Server) recordFate(f Fault, n, i int, data []byte) RecordFailure {
	if f.RecordFailure != nil {
		return f.RecordFailure(n, i, data)
	}
	if f.RecordFailureRate <= 0 {
		return RecordFailure{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rand.Float64() >= f.RecordFailureRate {
		return RecordFailure{}
	}
	if s.rand.IntN(2) == 0 {
		return RecordThrottled
	}
	return RecordInternalFailure
}

// streamStatus returns the status of the named stream, and whether it exists.
func (s *Server) streamStatus(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status, ok := s.streams[name]
	return status, ok
}

// store keeps the accepted records of one call and counts the refused ones. ids[i] is the
// RecordId answered for data[i]; an empty id marks a refused record.
func (s *Server) store(stream string, data [][]byte, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if id == "" {
			s.stats.RecordsFailed++
			continue
		}
		s.stats.RecordsAccepted++
		s.records = append(s.records, Record{Stream: stream, ID: id, Data: data[i]})
		sum := sha256.Sum256(data[i])
		if _, ok := s.seen[sum]; ok {
			s.stats.Duplicates++
		}
		s.seen[sum] = struct{}{}
	}
}

// newRecordID returns a unique RecordId. Real ones are long opaque base64 strings; these are
// shorter but just as opaque.
func newRecordID() string {
	var b [33]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}
