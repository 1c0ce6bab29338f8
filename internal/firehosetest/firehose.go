package firehosetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The Firehose side of the server: AWS JSON 1.1, one POST per call, the operation named by the
// X-Amz-Target header.
const (
	firehoseTargetPrefix = "Firehose_20150804."
	firehoseContentType  = "application/x-amz-json-1.1"
	firehoseService      = "firehose" // SigV4 signing name
)

// Error codes the way the service's front end (Coral) sends them in "__type": namespaced for the
// errors of the front end itself, bare for the ones the Firehose model declares. The SDK keeps
// the part after '#'.
const (
	coralPrefix = "com.amazon.coral.service#"
	// codeValidation is the front end's validation error; the Firehose model does not declare it,
	// so the SDK answers it as a generic API error with code "ValidationException".
	codeValidation = "com.amazon.coral.validate#ValidationException"
)

// errBatchSize is the service's answer to a call carrying more than the per-call byte limit.
var errBatchSize = apiError{http.StatusBadRequest, "InvalidArgumentException", "Records size exceeds 4 MB limit"}

// streamNamePattern is the DeliveryStreamName pattern of the Firehose model; names are 1 to 64
// characters long.
var streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

const maxStreamNameLength = 64

func (s *Server) serveFirehose(w http.ResponseWriter, r *http.Request, target string, body []byte, f Fault) {
	p, auth := s.authenticate(r, body, firehoseService)
	if auth != nil {
		writeFirehoseError(w, firehoseAuthError(auth))
		return
	}
	op, _ := strings.CutPrefix(target, firehoseTargetPrefix)
	if r.Method != http.MethodPost || !strings.HasPrefix(target, firehoseTargetPrefix) ||
		(op != opPutRecordBatch && op != opDescribeDeliveryStream) {
		writeFirehoseError(w, apiError{http.StatusBadRequest, coralPrefix + "UnknownOperationException", ""})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != firehoseContentType {
		writeFirehoseError(w, apiError{http.StatusBadRequest, coralPrefix + "SerializationException",
			fmt.Sprintf("Content-Type %q is not %s", ct, firehoseContentType)})
		return
	}

	if sf, changed, ok := s.streamFault(body); ok {
		if sf.Latency > 0 && !s.hold(r.Context(), sf.Latency, changed) {
			panic(http.ErrAbortHandler)
		}
		sf.Outage = f.Outage
		f = sf
	}
	if s.cfg.Role.ARN != "" && !p.assumed {
		// The streams are the role's account's: only its sessions may call them.
		s.countAuthFailure()
		writeFirehoseError(w, s.firehoseFault(p, op, AccessDenied, body))
		return
	}
	n, cf := s.admit(op, f)
	if cf != NoFault && cf != LoseResponse {
		writeFirehoseError(w, s.firehoseFault(p, op, cf, body))
		return
	}
	var (
		answer any
		failed *apiError
	)
	switch op {
	case opDescribeDeliveryStream:
		answer, failed = s.describeDeliveryStream(body)
	case opPutRecordBatch:
		answer, failed = s.putRecordBatch(n, f, body)
	}
	if cf == LoseResponse {
		// The call took effect; its answer never reaches the client.
		panic(http.ErrAbortHandler)
	}
	if failed != nil {
		writeFirehoseError(w, *failed)
		return
	}
	writeFirehose(w, http.StatusOK, answer)
}

// firehoseAuthError words a failed authentication as Firehose does.
func firehoseAuthError(e *authError) apiError {
	code := map[authFailure]string{
		authMissing:    "MissingAuthenticationTokenException",
		authIncomplete: "IncompleteSignatureException",
		authUnknownKey: "UnrecognizedClientException",
		authMismatch:   "InvalidSignatureException",
		authExpired:    "ExpiredTokenException",
	}[e.failure]
	return apiError{http.StatusBadRequest, coralPrefix + code, e.message}
}

// firehoseFault is the answer to a call given a call-level fault.
func (s *Server) firehoseFault(p principal, op string, cf CallFault, body []byte) apiError {
	var in struct{ DeliveryStreamName string }
	_ = json.Unmarshal(body, &in)
	switch cf {
	case Throttle:
		if op == opPutRecordBatch {
			return apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down."}
		}
		return apiError{http.StatusBadRequest, "LimitExceededException", "Rate exceeded."}
	case AccessDenied:
		return apiError{http.StatusBadRequest, coralPrefix + "AccessDeniedException", fmt.Sprintf(
			"User: %s is not authorized to perform: firehose:%s on resource: %s because no identity-based policy allows the firehose:%s action",
			p.arn, op, s.streamARN(in.DeliveryStreamName), op)}
	case ExpiredToken:
		return apiError{http.StatusBadRequest, coralPrefix + "ExpiredTokenException",
			"The security token included in the request is expired"}
	default:
		return apiError{http.StatusInternalServerError, coralPrefix + "InternalFailure", "Internal service failure."}
	}
}

func (s *Server) userARN() string {
	return fmt.Sprintf("arn:aws:iam::%s:user/kinesyslog-test", s.cfg.Account)
}

func (s *Server) streamARN(name string) string {
	return fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", s.cfg.Region, s.streamAccount(), name)
}

// validationErrors collects the front end's validation messages, worded as it words them.
type validationErrors []string

func (v *validationErrors) add(value, path, constraint string) {
	*v = append(*v, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, path, constraint))
}

// streamName checks a DeliveryStreamName member.
func (v *validationErrors) streamName(name *string) {
	const path = "deliveryStreamName"
	switch {
	case name == nil:
		v.add("null", path, "not be null")
	case len(*name) < 1:
		v.add(fmt.Sprintf("'%s'", *name), path, "have length greater than or equal to 1")
	case len(*name) > maxStreamNameLength:
		v.add(fmt.Sprintf("'%s'", *name), path, fmt.Sprintf("have length less than or equal to %d", maxStreamNameLength))
	case !streamNamePattern.MatchString(*name):
		v.add(fmt.Sprintf("'%s'", *name), path, "satisfy regular expression pattern: [a-zA-Z0-9._-]+")
	}
}

// err is the ValidationException for the collected messages, or nil when there are none.
func (v validationErrors) err() *apiError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return &apiError{http.StatusBadRequest, codeValidation, "1 validation error detected: " + v[0]}
	default:
		return &apiError{http.StatusBadRequest, codeValidation,
			fmt.Sprintf("%d validation errors detected: %s", len(v), strings.Join(v, "; "))}
	}
}

func serializationError(err error) *apiError {
	return &apiError{http.StatusBadRequest, coralPrefix + "SerializationException", err.Error()}
}

func (s *Server) describeDeliveryStream(body []byte) (any, *apiError) {
	var in struct {
		DeliveryStreamName *string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, serializationError(err)
	}
	var invalid validationErrors
	invalid.streamName(in.DeliveryStreamName)
	if err := invalid.err(); err != nil {
		return nil, err
	}
	name := *in.DeliveryStreamName
	status, ok := s.streamStatus(name)
	if !ok {
		return nil, s.notFound(name)
	}
	return map[string]any{
		"DeliveryStreamDescription": map[string]any{
			"DeliveryStreamName":                    name,
			"DeliveryStreamARN":                     s.streamARN(name),
			"DeliveryStreamStatus":                  status,
			"DeliveryStreamType":                    "DirectPut",
			"DeliveryStreamEncryptionConfiguration": map[string]string{"Status": "DISABLED"},
			"VersionId":                             "1",
			"CreateTimestamp":                       float64(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Unix()),
			"Destinations":                          []any{},
			"HasMoreDestinations":                   false,
		},
	}, nil
}

func (s *Server) notFound(name string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException",
		fmt.Sprintf("Firehose %s under account %s not found.", name, s.streamAccount())}
}

type putRecordBatchResponseEntry struct {
	RecordID     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:",omitempty"`
	ErrorMessage string `json:",omitempty"`
}

type putRecordBatchResponse struct {
	FailedPutCount   int
	Encrypted        bool
	RequestResponses []putRecordBatchResponseEntry
}

// putRecordBatch carries out call n: validation as the front end does it, then the stream, then
// the size of the call, then each record's fate.
func (s *Server) putRecordBatch(n int, f Fault, body []byte) (any, *apiError) {
	var in struct {
		DeliveryStreamName *string
		Records            *[]struct{ Data *[]byte }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, serializationError(err)
	}
	var invalid validationErrors
	invalid.streamName(in.DeliveryStreamName)
	switch {
	case in.Records == nil:
		invalid.add("null", "records", "not be null")
	case len(*in.Records) < 1:
		invalid.add("'[]'", "records", "have length greater than or equal to 1")
	case len(*in.Records) > s.cfg.MaxBatchRecords:
		invalid.add(fmt.Sprintf("'[%d records]'", len(*in.Records)), "records",
			fmt.Sprintf("have length less than or equal to %d", s.cfg.MaxBatchRecords))
	}
	var data [][]byte
	size := 0
	if in.Records != nil {
		for i, rec := range *in.Records {
			// The front end numbers list members from 1.
			path := fmt.Sprintf("records.%d.member.data", i+1)
			switch {
			case rec.Data == nil:
				invalid.add("null", path, "not be null")
			case len(*rec.Data) > s.cfg.MaxRecordBytes:
				invalid.add(fmt.Sprintf("'java.nio.HeapByteBuffer[pos=0 lim=%d cap=%d]'", len(*rec.Data), len(*rec.Data)),
					path, fmt.Sprintf("have length less than or equal to %d", s.cfg.MaxRecordBytes))
			default:
				data = append(data, *rec.Data)
				size += len(*rec.Data)
			}
		}
	}
	if err := invalid.err(); err != nil {
		return nil, err
	}

	name := *in.DeliveryStreamName
	switch status, ok := s.streamStatus(name); {
	case !ok:
		return nil, s.notFound(name)
	case status != "ACTIVE":
		// What the service answers here is not documented; ResourceInUseException is its error
		// for a stream not in a state that allows the operation.
		return nil, &apiError{http.StatusBadRequest, "ResourceInUseException",
			fmt.Sprintf("Firehose %s under account %s is %s, not ACTIVE.", name, s.streamAccount(), status)}
	}
	if size > s.cfg.MaxBatchBytes {
		return nil, &errBatchSize
	}
	if !s.admitCall(name) {
		return nil, &errSlowDown
	}

	out := putRecordBatchResponse{RequestResponses: make([]putRecordBatchResponseEntry, len(data))}
	for i, d := range data {
		if rf := s.recordFate(f, n, i, d); rf != (RecordFailure{}) {
			out.RequestResponses[i] = putRecordBatchResponseEntry{ErrorCode: rf.Code, ErrorMessage: rf.Message}
		}
	}
	ids := s.admitRecords(name, data, out.RequestResponses)
	for i, id := range ids {
		if id == "" {
			out.FailedPutCount++
			continue
		}
		out.RequestResponses[i].RecordID = id
	}
	s.store(name, data, ids)
	return out, nil
}

// admitCall reports whether a PutRecordBatch call to stream fits its request quota, counting a
// call refused.
func (s *Server) admitCall(stream string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meters[stream]
	if !ok || m.call(time.Now()) {
		return true
	}
	s.stats.Throttled++
	return false
}

// admitRecords returns the RecordId of each record of a call to stream, in order: empty for a
// record already refused (its entry has an ErrorCode) and for one past the stream's quota, whose
// entry it fills with the per-record throttling answer.
func (s *Server) admitRecords(stream string, data [][]byte, entries []putRecordBatchResponseEntry) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, metered := s.meters[stream]
	now := time.Now()
	ids := make([]string, len(data))
	throttled := 0
	for i, d := range data {
		switch {
		case entries[i].ErrorCode != "":
		case metered && !m.record(now, len(d)):
			entries[i] = recordSlowDown
			throttled++
		default:
			ids[i] = newRecordID()
		}
	}
	if throttled > 0 {
		s.stats.Throttled++
		s.stats.RecordsThrottled += throttled
	}
	return ids
}

// writeFirehose answers a Firehose call with v as JSON.
func writeFirehose(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("firehosetest: marshal answer: %v", err))
	}
	w.Header().Set("Content-Type", firehoseContentType)
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeFirehoseError(w http.ResponseWriter, e apiError) {
	writeFirehose(w, e.status, map[string]string{"__type": e.code, "message": e.message})
}
