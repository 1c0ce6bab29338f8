package awsconf

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DescribeAll asks AWS about each of the streams names of service arnService ("firehose",
// "kinesis"; noun names them in errors: "delivery stream") with describe, which returns a
// stream's ARN when it takes records, and returns the ARN of the first stream that answered.
// Its error is the first definite one (IsDefinite): a stream missing or not ACTIVE, or, wrapping
// ErrAccountsDiffer, streams whose ARNs name several accounts, as
// `kinesis: data stream "a" is of account 111111111111, "b" of account 222222222222: all must be
// of one account, the records' owner`; else the first failure to get an answer.
func DescribeAll(ctx context.Context, names []string, arnService, noun string,
	describe func(ctx context.Context, name string) (streamARN string, err error)) (streamARN string, err error) {
	var transient error
	first, firstAccount := "", ""
	for _, name := range names {
		a, err := describe(ctx, name)
		switch {
		case IsDefinite(err):
			return "", err
		case err != nil:
			transient = cmp.Or(transient, err)
			continue
		}
		account, _ := ARNAccount(a, arnService)
		if streamARN == "" {
			streamARN, first, firstAccount = a, name, account
		} else if account != firstAccount {
			return "", &CallError{Msg: fmt.Sprintf("%s: %s %q is of account %s, %q of account %s: all must be of one account, the records' owner",
				arnService, noun, first, firstAccount, name, account), Kind: ErrAccountsDiffer}
		}
	}
	return streamARN, transient
}

// DefaultTimeout bounds one call of an AWS destination, connection included, when its Timeout
// is zero: 30 s, the uploader's default call timeout too.
const DefaultTimeout = 30 * time.Second

// Setup is what every AWS destination is made of besides its service's own client: the SDK
// configuration that client is made from, the STS client that names the credentials' account,
// the records' owner, and the bound of each call. Create it with NewSetup.
type Setup struct {
	Config  aws.Config
	STS     *sts.Client
	Owner   *Owner
	Timeout time.Duration
	// service, arnService and noun name the service and its streams (Stream).
	service, arnService, noun string
}

// NewSetup returns the Setup of a destination of service (named so in logs: "Kinesis"; in ARNs
// and as the prefix of errors: arnService, "kinesis") sending to streams (noun names them: "data
// stream"), which must be at least one name and none empty: o's configuration (Load, logging to
// slog.Default() when o.Logger is nil), the owner kept in stateDir (nowhere when empty), calls
// bounded by timeout (DefaultTimeout when zero). It sends nothing.
func NewSetup(ctx context.Context, service, arnService, noun string, streams []string, o Options, stateDir string, timeout time.Duration) (Setup, error) {
	if len(streams) == 0 || slices.Contains(streams, "") {
		return Setup{}, fmt.Errorf("%s: no %s name", arnService, noun)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg, err := Load(ctx, o)
	if err != nil {
		return Setup{}, fmt.Errorf("%s: %w", arnService, err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return Setup{Config: cfg, STS: NewSTS(cfg, o.STSEndpointURL), Owner: NewOwner(stateDir, o.Logger), Timeout: timeout,
		service: service, arnService: arnService, noun: noun}, nil
}

// Stream returns the destination's streams as its Owner learns from them: describe checks them
// all (DescribeAll), STS and Timeout are s's.
func (s Setup) Stream(describe func(ctx context.Context) (streamARN string, err error)) Stream {
	return Stream{Describe: describe, Service: s.service, ARNService: s.arnService, Noun: s.noun, STS: s.STS, Timeout: s.Timeout}
}
