package firehosetest

import "time"

// A Fault says how the server misbehaves. The zero Fault is a healthy server. Set it with
// [Server.SetFault]; it applies to requests that arrive afterwards.
//
// For each call the server decides in this order: Outage; then Latency; then, once the request
// is authenticated, the call-level fault (Call, else ThrottleRate and InternalErrorRate); then,
// for a PutRecordBatch call that goes ahead, each record's fate (RecordFailure, else
// RecordFailureRate).
type Fault struct {
	// Outage takes the whole endpoint down, STS included.
	Outage Outage

	// Latency delays every answer by this long (a slow service). A client that gives up first
	// gets nothing; the server then does not carry out the call.
	Latency time.Duration

	// Call, when not nil, decides the fate of every authenticated call: it gets the operation name
	// ("PutRecordBatch", "DescribeDeliveryStream", "GetCallerIdentity") and the call's 1-based
	// number among calls of that operation. It replaces ThrottleRate and InternalErrorRate. It is
	// called without the server's lock held and may be called concurrently.
	Call func(op string, n int) CallFault

	// ThrottleRate is the fraction of PutRecordBatch calls answered with Throttle, at random.
	ThrottleRate float64
	// InternalErrorRate is the fraction of PutRecordBatch calls answered with InternalError, at
	// random, among those not throttled.
	InternalErrorRate float64

	// RecordFailure, when not nil, decides the fate of each record of a PutRecordBatch call that
	// goes ahead: it gets the call's number, the record's 0-based index and its data, and returns
	// the zero RecordFailure to accept the record. It replaces RecordFailureRate. It is called
	// without the server's lock held and may be called concurrently.
	RecordFailure func(n, i int, data []byte) RecordFailure
	// RecordFailureRate is the fraction of records refused, at random, each with
	// RecordThrottled or RecordInternalFailure (chosen at random too).
	RecordFailureRate float64
}

// healthy reports whether f is the zero Fault (which a comparison cannot tell: it has funcs).
func (f Fault) healthy() bool {
	return f.Outage == OutageNone && f.Latency == 0 && f.Call == nil && f.ThrottleRate == 0 &&
		f.InternalErrorRate == 0 && f.RecordFailure == nil && f.RecordFailureRate == 0
}

// An Outage takes the whole endpoint down.
type Outage int

const (
	// OutageNone serves normally.
	OutageNone Outage = iota
	// OutageRefuse closes the listening socket and every open connection: clients get
	// "connection refused", as when the network or the endpoint is down. The server listens again
	// on the same address when the outage ends.
	OutageRefuse
	// OutageUnavailable answers every request with HTTP 503 and an HTML body, as a load balancer
	// in front of a failing service does; the SDK cannot parse it as an AWS error.
	OutageUnavailable
	// OutageHang accepts requests and never answers them, until the client gives up or the
	// outage ends; then the connection is dropped without an answer.
	OutageHang
)

// A CallFault is the fate of one call. The zero CallFault lets the call go ahead.
type CallFault int

const (
	// NoFault lets the call go ahead.
	NoFault CallFault = iota
	// Throttle answers as the service does when a quota is exceeded: for PutRecordBatch
	// ServiceUnavailableException "Slow down." (HTTP 503, as the Firehose model declares), for
	// DescribeDeliveryStream LimitExceededException (HTTP 400), for STS Throttling (HTTP 400).
	Throttle
	// InternalError answers InternalFailure with HTTP 500.
	InternalError
	// AccessDenied answers that the identity may not call this operation: AccessDeniedException
	// (Firehose, HTTP 400) or AccessDenied (STS, HTTP 403).
	AccessDenied
	// ExpiredToken answers that the credentials have expired: ExpiredTokenException (Firehose,
	// HTTP 400) or ExpiredToken (STS, HTTP 403).
	ExpiredToken
	// LoseResponse carries the call out (records are stored) and then drops the connection
	// without answering: the client cannot know, and resends what was already accepted.
	LoseResponse
)

// A RecordFailure is the ErrorCode and ErrorMessage of one refused record of a PutRecordBatch
// call. The zero RecordFailure accepts the record.
type RecordFailure struct {
	Code    string
	Message string
}

// The per-record failures the service documents.
var (
	RecordThrottled       = RecordFailure{Code: "ServiceUnavailableException", Message: "Slow down."}
	RecordInternalFailure = RecordFailure{Code: "InternalFailure", Message: "Internal service failure."}
)
