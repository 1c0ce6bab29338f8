package kinesis

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// A Stream is a data stream as Options.Streams gives it: by name, or by ARN
// (arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME), whose region and account then must be those
// the Destination reaches.
type Stream struct {
	Name string
	// ARN is the stream's ARN when it was given as one, Region the region in it.
	ARN, Region string
}

// ParseStream returns the stream s names, a name or a stream ARN. Only an ARN is checked here:
// it must be of Kinesis, with a region, an account and a resource stream/NAME.
func ParseStream(s string) (Stream, error) {
	if !arn.IsARN(s) {
		return Stream{Name: s}, nil
	}
	a, err := arn.Parse(s)
	if err != nil {
		return Stream{}, fmt.Errorf("kinesis: data stream ARN %q: %w", s, err)
	}
	name, ok := strings.CutPrefix(a.Resource, "stream/")
	if a.Service != "kinesis" || a.Region == "" || a.AccountID == "" || !ok || name == "" || strings.Contains(name, "/") {
		return Stream{}, fmt.Errorf("kinesis: data stream ARN %q is not arn:aws:kinesis:REGION:ACCOUNT:stream/NAME", s)
	}
	return Stream{Name: name, ARN: s, Region: a.Region}, nil
}
