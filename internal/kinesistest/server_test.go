package kinesistest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
)

// TestProxy puts records through the proxy with every other entry refused, then sends the
// refused ones and one stored one again: the refused entries are not stored, and the counts
// tell resent entries from duplicates.
func TestProxy(t *testing.T) {
	s := Start(t, Config{})
	s.CreateStream(t, "logs", 2)
	client := kinesis.New(kinesis.Options{Region: Region, BaseEndpoint: aws.String(s.URL),
		Credentials: s.Client.Options().Credentials, Retryer: aws.NopRetryer{}})
	put := func(data ...string) *kinesis.PutRecordsOutput {
		t.Helper()
		in := &kinesis.PutRecordsInput{StreamName: aws.String("logs")}
		for _, d := range data {
			in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String(d)})
		}
		out, err := client.PutRecords(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	s.SetFault(Fault{Entry: func(_, i int, _ string, _ []byte) string {
		if i%2 == 1 {
			return Throttled
		}
		return ""
	}})
	out := put("a", "b", "c", "d")
	if got := aws.ToInt32(out.FailedRecordCount); got != 2 {
		t.Errorf("FailedRecordCount = %d, want 2", got)
	}
	for i, e := range out.Records {
		if refused := aws.ToString(e.ErrorCode) == Throttled; refused != (i%2 == 1) || refused == (e.SequenceNumber != nil) {
			t.Errorf("entry %d = {%v %v}, want refused: %t", i, aws.ToString(e.ErrorCode), aws.ToString(e.SequenceNumber), i%2 == 1)
		}
	}
	s.SetFault(Fault{})
	put("b", "d", "a")

	var stored []string
	for _, r := range s.Records(t, "logs") {
		stored = append(stored, string(r.Data))
	}
	want := Stats{Calls: 2, Entries: 7, Refused: 2, Resent: 2, Repeated: 1, InFlight: 1}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
	if len(stored) != 5 {
		t.Errorf("kinesalite stored %q, want a, c, b, d and a again", stored)
	}
}
