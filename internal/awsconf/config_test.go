package awsconf

import "testing"

func TestARNAccount(t *testing.T) {
	tests := []struct {
		arn    string
		want   string
		wantOK bool
	}{
		{"arn:aws:firehose:us-east-1:123456789012:deliverystream/logs", "123456789012", true},
		{"arn:aws-cn:firehose:cn-north-1:210987654321:deliverystream/logs", "210987654321", true},
		{"", "", false},
		{"not an arn", "", false},
		{"arn:aws:firehose:us-east-1::deliverystream/logs", "", false},
		{"arn:aws:firehose:us-east-1:12345:deliverystream/logs", "", false},
		{"arn:aws:iam::123456789012:user/x", "", false},
	}
	for _, tt := range tests {
		if got, ok := ARNAccount(tt.arn, "firehose"); got != tt.want || ok != tt.wantOK {
			t.Errorf("ARNAccount(%q, firehose) = %q, %t; want %q, %t", tt.arn, got, ok, tt.want, tt.wantOK)
		}
	}
}
