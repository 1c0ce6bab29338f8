package awsconf

import (
	"cmp"
	"context"
	"fmt"
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
