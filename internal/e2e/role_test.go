package e2e

import (
	"testing"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// TestRoleRefresh runs the relay with --role-arn and --external-id against a Firehose in the
// role's account, which serves only the role's sessions, and whose STS issues credentials that
// last 2 seconds. While a sender writes, the relay assumes the role again and again, without a
// restart: every call is signed with unexpired credentials of the role, every message is
// delivered once, and the records' owner is the role's account, not the caller's.
func TestRoleRefresh(t *testing.T) {
	const (
		// The streams are the role's account's; the caller is in another (callerAccount),
		// which no record may name as its owner. countTokens checks the owner.
		roleAccount   = firehosetest.DefaultAccount
		callerAccount = "111122223333"
		roleARN       = "arn:aws:iam::" + roleAccount + ":role/kinesyslog-delivery"
		assumptions   = 3
	)
	srv := firehosetest.Start(t, firehosetest.Config{
		Account: callerAccount,
		Role:    firehosetest.Role{ARN: roleARN, ExternalID: "ext-id-7f3e", Lifetime: 2 * time.Second},
	})
	start := time.Now()
	r := startFaultRelay(t, srv, faultOptions{args: []string{"--role-arn", roleARN, "--external-id", "ext-id-7f3e"}})
	// A few MB/s: a full PutRecordBatch call every second or so.
	s := startSender(t, r.tcpPort, "role", senderOptions{payload: payload, pace: 2 * time.Millisecond})
	testenv.Eventually(t, "the relay to assume the role again while delivering", func() bool {
		st := srv.Stats()
		return st.Calls["AssumeRole"] >= assumptions && st.Calls["PutRecordBatch"] >= assumptions
	})
	t.Logf("assumed %d times after %v", assumptions, time.Since(start))
	s.halt()
	n := s.wait(t)
	if s.err != nil {
		t.Fatalf("sender stopped after %d messages: %v", n, s.err)
	}
	r.waitReceived(t, n)
	stopClean(t, r)

	checkAll(t, srv, tokens("role", n))
	st := srv.Stats()
	if st.AuthFailures != 0 {
		t.Errorf("%d calls refused for their credentials (expired, or the caller's own), want none", st.AuthFailures)
	}
	t.Logf("%d messages in %d calls, %d AssumeRole calls, in %v", n, st.Calls["PutRecordBatch"], st.Calls["AssumeRole"], time.Since(start))
}
