package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesyslog/kinesyslog/internal/upload"
)

func TestKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"plain", errors.New("boom"), nil},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), nil},
		{"credential lookup cut short", &CredentialsError{Err: context.DeadlineExceeded}, nil},
		{"credential lookup failed", &CredentialsError{Err: errors.New("no EC2 IMDS role found")}, ErrCredentials},
		{"not found", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, ErrNotFound},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, ErrAccessDenied},
		{"STS access denied", &smithy.GenericAPIError{Code: "AccessDenied"}, ErrAccessDenied},
		{"invalid client token", &smithy.GenericAPIError{Code: "InvalidClientTokenId"}, ErrCredentials},
		{"throttled", &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "Slow down."}, nil},
		{"other invalid argument", &smithy.GenericAPIError{Code: "InvalidArgumentException", Message: "Something else"}, nil},
		{"4 MB", &smithy.GenericAPIError{Code: "InvalidArgumentException", Message: "Records size exceeds 4 MB limit"}, upload.ErrBatchTooLarge},
		{"other size wording", &smithy.GenericAPIError{Code: "InvalidArgumentException", Message: "Request payload length is too large"}, upload.ErrBatchTooLarge},
		{"HTTP 413", &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 413}},
			Err: &smithy.GenericAPIError{Code: "UnknownError"}}, upload.ErrBatchTooLarge},
		{"500 records", &smithy.GenericAPIError{Code: "ValidationException", Message: "1 validation error detected: Value '[...]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"}, upload.ErrBatchTooLarge},
		{"record data", &smithy.GenericAPIError{Code: "ValidationException", Message: "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=2757283 cap=2757283]' at 'records.97.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"}, ErrRecordTooLarge},
		{"Kinesis record data", &smithy.GenericAPIError{Code: "ValidationException", Message: "1 validation error detected: Value at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576"}, ErrRecordTooLarge},
		{"Kinesis throughput", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "Rate exceeded for shard shardId-000000000001"}, nil},
		{"Kinesis KMS throttled", &smithy.GenericAPIError{Code: "KMSThrottlingException"}, nil},
		{"other validation", &smithy.GenericAPIError{Code: "ValidationException", Message: "Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Kind(tt.err); got != tt.want {
				t.Errorf("Kind(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
