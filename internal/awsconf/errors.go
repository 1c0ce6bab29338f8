package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// Definite answers from AWS, worded alike by Firehose, Kinesis Data Streams and STS: retrying the
// same call later gets the same answer. The destinations export them under their own names
// (firehose.ErrStreamNotFound is ErrNotFound).
var (
	ErrNotFound     = errors.New("stream does not exist")
	ErrNotActive    = errors.New("stream is not ACTIVE")
	ErrAccessDenied = errors.New("access denied")
	ErrCredentials  = errors.New("AWS credentials missing or refused")
	// ErrRecordTooLarge wraps upload.ErrBatchTooLarge: the answer does not say which record it
	// is, so the uploader splits the batch until it is alone, then quarantines it.
	ErrRecordTooLarge = fmt.Errorf("record too large: %w", upload.ErrBatchTooLarge)
	// ErrAccountsDiffer says that a destination's streams are not all of one account
	// (DescribeAll): the records of one relay have one owner.
	ErrAccountsDiffer = errors.New("streams of several accounts")
)

// IsDefinite reports whether err is an answer that waiting and retrying will not change: a
// missing or not ACTIVE stream, streams of several accounts, access denied, missing or refused
// credentials, or a batch or record too large. Anything else (a timeout, a refused connection, throttling, a 5xx answer, an
// answer that cannot be read) is transient. Only a definite answer should stop the relay at
// start; records are never dropped for any error.
func IsDefinite(err error) bool {
	for _, definite := range []error{ErrNotFound, ErrNotActive, ErrAccountsDiffer, ErrAccessDenied,
		ErrCredentials, ErrRecordTooLarge, upload.ErrBatchTooLarge} {
		if errors.Is(err, definite) {
			return true
		}
	}
	return false
}

// Error codes the services answer for refused credentials: Firehose's and Kinesis's front end
// and STS word the same conditions differently.
var credentialCodes = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidClientTokenId":                true,
	"InvalidSignatureException":           true,
	"SignatureDoesNotMatch":               true,
	"MissingAuthenticationTokenException": true,
	"MissingAuthenticationToken":          true,
	"IncompleteSignatureException":        true,
	"IncompleteSignature":                 true,
	"ExpiredTokenException":               true,
	"ExpiredToken":                        true,
}

// Kind returns the sentinel naming err's definite condition, or nil when err is transient.
func Kind(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Even a credential lookup cut short says nothing definite.
		return nil
	}
	if _, ok := errors.AsType[*CredentialsError](err); ok {
		return ErrCredentials
	}
	if respErr, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && respErr.HTTPStatusCode() == http.StatusRequestEntityTooLarge {
		// A proxy or load balancer in front of the endpoint refused the body, in words of its own.
		return upload.ErrBatchTooLarge
	}
	apiErr, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		return nil
	}
	code, message := apiErr.ErrorCode(), apiErr.ErrorMessage()
	switch {
	case code == "ResourceNotFoundException":
		return ErrNotFound
	case code == "AccessDeniedException" || code == "AccessDenied":
		return ErrAccessDenied
	case credentialCodes[code]:
		return ErrCredentials
	// The front end's validation names a member "records.N.member.data" when one record is too
	// large, and the list "records" when the call has too many of them.
	case code == "ValidationException" && strings.Contains(message, ".member.data' failed to satisfy constraint: Member must have length less than"):
		return ErrRecordTooLarge
	case code == "ValidationException" && strings.Contains(message, "at 'records' failed to satisfy constraint: Member must have length less than"),
		code == "InvalidArgumentException" && speaksOfSize(message):
		return upload.ErrBatchTooLarge
	}
	return nil
}

// speaksOfSize reports whether an InvalidArgumentException's message complains of a size:
// "Records size exceeds 4 MB limit" today, but the wording is not documented, and sending the same
// batch again would only get the same answer.
func speaksOfSize(message string) bool {
	message = strings.ToLower(message)
	for _, word := range []string{"size", "length", "too large", "too big", "too long"} {
		if strings.Contains(message, word) {
			return true
		}
	}
	return false
}

// CallError is an error of one call: a one-line message, the definite condition when there is
// one (Kind), and the SDK's error, when there is one, for errors.As.
type CallError struct {
	Msg  string
	Kind error
	Err  error
}

func (e *CallError) Error() string { return e.Msg }

// Unwrap returns the definite condition and the SDK's error, those that are set.
func (e *CallError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Reason is the short form of an SDK error: the transport's error when the request could not be
// sent or answered, else the HTTP status, request id, AWS error code and message, without the
// SDK's "operation error Firehose: PutRecordBatch" prefix.
func Reason(err error) string {
	if credErr, ok := errors.AsType[*CredentialsError](err); ok {
		return credErr.Error()
	}
	if sendErr, ok := errors.AsType[*smithyhttp.RequestSendError](err); ok {
		return sendErr.Err.Error()
	}
	if opErr, ok := errors.AsType[*smithy.OperationError](err); ok {
		return opErr.Err.Error()
	}
	return err.Error()
}
