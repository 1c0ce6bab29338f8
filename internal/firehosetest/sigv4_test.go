package firehosetest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

// The examples of the IAM User Guide and the SigV4 test suite, with their published signatures.
var (
	exampleCredentials = aws.Credentials{
		AccessKeyID:     "AKIDEXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	}
	exampleTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
)

func TestVerifyPublishedExamples(t *testing.T) {
	tests := []struct {
		name, service, url string
		header             map[string]string
		signedHeaders      string
		signature          string
	}{
		{
			name:          "sigv4 test suite get-vanilla",
			service:       "service",
			url:           "https://example.amazonaws.com/",
			signedHeaders: "host;x-amz-date",
			signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name:          "IAM user guide ListUsers",
			service:       "iam",
			url:           "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
			header:        map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
			signedHeaders: "content-type;host;x-amz-date",
			signature:     "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.url, nil)
			r.Header.Set(headerAmzDate, exampleTime.Format(amzDateLayout))
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"+tt.service+
				"/aws4_request, SignedHeaders="+tt.signedHeaders+", Signature="+tt.signature)
			s := signer{accessKeyID: exampleCredentials.AccessKeyID, secretAccessKey: exampleCredentials.SecretAccessKey, region: "us-east-1"}
			if err := s.verify(r, nil, tt.service, exampleTime); err != nil {
				t.Errorf("verify(published example) = %v, want nil", err)
			}

			// The SDK's signer must agree with the published signature, else the example is
			// transcribed wrong rather than the verifier right.
			out := httptest.NewRequest(http.MethodGet, tt.url, nil)
			for k, v := range tt.header {
				out.Header.Set(k, v)
			}
			if err := v4.NewSigner().SignHTTP(context.Background(), exampleCredentials, out, sha256Hex(nil),
				tt.service, "us-east-1", exampleTime); err != nil {
				t.Fatal(err)
			}
			if got := out.Header.Get("Authorization"); !strings.HasSuffix(got, "Signature="+tt.signature) {
				t.Errorf("SDK signer gives %q, want signature %s", got, tt.signature)
			}
		})
	}
}

// received signs a request with the SDK's signer, lets mutate change it after signing, and
// returns it as a server reads it off the wire.
func received(t *testing.T, creds aws.Credentials, service, region string, at time.Time,
	body string, mutate func(*http.Request)) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", firehoseContentType)
	req.Header.Set("X-Amz-Target", firehoseTargetPrefix+opPutRecordBatch)
	if creds.SessionToken != "" {
		req.Header.Set(headerAmzToken, creds.SessionToken)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex([]byte(body)), service, region, at); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	wire, err := httputil.DumpRequestOut(req, true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	return r, got.Bytes()
}

func TestVerify(t *testing.T) {
	now := time.Now().UTC()
	good := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	withToken := good
	withToken.SessionToken = "session-token"
	const body = `{"DeliveryStreamName":"s","Records":[{"Data":"aGVsbG8="}]}`
	replaceBody := func(b string) func(*http.Request) {
		return func(r *http.Request) {
			r.Body, r.ContentLength, r.GetBody = io.NopCloser(strings.NewReader(b)), int64(len(b)), nil
		}
	}
	tests := []struct {
		name        string
		creds       aws.Credentials
		service     string
		region      string
		at          time.Time
		wantToken   string
		mutate      func(*http.Request)
		wantFailure authFailure
		wantMessage string
	}{
		{name: "good", creds: good},
		{name: "good with session token", creds: withToken, wantToken: "session-token"},
		{name: "header added after signing is not signed", creds: good,
			mutate: func(r *http.Request) { r.Header.Set("X-Unsigned", "yes") }},
		{name: "wrong secret", creds: aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: "wrong"},
			wantFailure: authMismatch, wantMessage: messageMismatch},
		{name: "unknown access key", creds: aws.Credentials{AccessKeyID: "AKIAOTHER", SecretAccessKey: DefaultSecretAccessKey},
			wantFailure: authUnknownKey},
		{name: "session token missing", creds: good, wantToken: "session-token", wantFailure: authUnknownKey},
		{name: "session token not expected", creds: withToken, wantFailure: authUnknownKey},
		{name: "wrong service name", creds: good, service: "sts",
			wantFailure: authMismatch, wantMessage: "Credential should be scoped to correct service: 'firehose'. "},
		{name: "wrong region", creds: good, region: "eu-west-1",
			wantFailure: authMismatch, wantMessage: "Credential should be scoped to a valid region. "},
		{name: "tampered body", creds: good, mutate: replaceBody(strings.Replace(body, "aGVsbG8=", "aGVsbG9=", 1)),
			wantFailure: authMismatch, wantMessage: messageMismatch},
		{name: "tampered signed header", creds: good,
			mutate:      func(r *http.Request) { r.Header.Set("X-Amz-Target", firehoseTargetPrefix+"DeleteDeliveryStream") },
			wantFailure: authMismatch, wantMessage: messageMismatch},
		{name: "signed 20 minutes ago", creds: good, at: now.Add(-20 * time.Minute), wantFailure: authMismatch},
		{name: "signed 20 minutes ahead", creds: good, at: now.Add(20 * time.Minute), wantFailure: authMismatch},
		{name: "unsigned", creds: good, mutate: func(r *http.Request) { r.Header.Del("Authorization") },
			wantFailure: authMissing, wantMessage: "Missing Authentication Token"},
		{name: "malformed authorization", creds: good,
			mutate: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=nonsense") }, wantFailure: authIncomplete},
		{name: "host not signed", creds: good, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=x-amz-date;", 1))
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
		}, wantFailure: authIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service, region, at := firehoseService, DefaultRegion, now
			if tt.service != "" {
				service = tt.service
			}
			if tt.region != "" {
				region = tt.region
			}
			if !tt.at.IsZero() {
				at = tt.at
			}
			r, got := received(t, tt.creds, service, region, at, body, tt.mutate)
			s := signer{accessKeyID: DefaultAccessKeyID, secretAccessKey: DefaultSecretAccessKey,
				sessionToken: tt.wantToken, region: DefaultRegion}
			err := s.verify(r, got, firehoseService, now)
			switch {
			case tt.wantFailure == 0 && err != nil:
				t.Fatalf("verify() = %v, want nil", err)
			case tt.wantFailure == 0:
				return
			case err == nil:
				t.Fatalf("verify() = nil, want failure %d", tt.wantFailure)
			case err.failure != tt.wantFailure:
				t.Errorf("verify() = failure %d (%v), want %d", err.failure, err, tt.wantFailure)
			case tt.wantMessage != "" && err.message != tt.wantMessage:
				t.Errorf("verify() message = %q, want %q", err.message, tt.wantMessage)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	const sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	tests := []struct {
		name    string
		in      string
		want    authorization
		wantErr bool
	}{
		{
			name: "SDK form",
			in:   "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + sig,
			want: authorization{AccessKeyID: "AKID", Date: "20150830", Region: "us-east-1", Service: "iam",
				SignedHeaders: []string{"content-type", "host", "x-amz-date"}, Signature: sig},
		},
		{
			name: "no spaces after commas",
			in:   "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request,SignedHeaders=host,Signature=" + sig,
			want: authorization{AccessKeyID: "AKID", Date: "20150830", Region: "us-east-1", Service: "iam",
				SignedHeaders: []string{"host"}, Signature: sig},
		},
		{name: "other algorithm", in: "AWS4-ECDSA-P256-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=" + sig, wantErr: true},
		{name: "short scope", in: "AWS4-HMAC-SHA256 Credential=AKID/20150830/iam/aws4_request, SignedHeaders=host, Signature=" + sig, wantErr: true},
		{name: "no signed headers", in: "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, Signature=" + sig, wantErr: true},
		{name: "upper-case header", in: "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=Host, Signature=" + sig, wantErr: true},
		{name: "short signature", in: "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=abcd", wantErr: true},
		{name: "unknown field", in: "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=" + sig + ", Extra=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthorization(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseAuthorization(%q) error = %v, want error %t", tt.in, err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("parseAuthorization(%q) mismatch (-want +got):\n%s", tt.in, diff)
				}
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Version=2010-05-08&Action=ListUsers", "Action=ListUsers&Version=2010-05-08"},
		{"b=2&a=1&a=0", "a=0&a=1&b=2"},
		{"k=a+b&s=%2F~", "k=a%20b&s=%2F~"},
		{"flag&x=", "flag=&x="},
	}
	for _, tt := range tests {
		if got := canonicalQuery(tt.in); got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=h,Signature=")
	f.Add("AWS4-HMAC-SHA256 ")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := parseAuthorization(in)
		if err != nil {
			return
		}
		// What parses formats back to a header that parses to the same thing.
		again, err := parseAuthorization(a.String())
		if err != nil {
			t.Fatalf("parseAuthorization(%q) = %+v, whose String %q does not parse: %v", in, a, a.String(), err)
		}
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("round trip of %q mismatch (-first +second):\n%s", in, diff)
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("Action=GetCallerIdentity&Version=2011-06-15")
	f.Add("a=%zz&b=+&&c")
	f.Fuzz(func(t *testing.T, in string) {
		// The canonical form is a fixed point: encoding it again changes nothing.
		once := canonicalQuery(in)
		if twice := canonicalQuery(once); twice != once {
			t.Fatalf("canonicalQuery(%q) = %q, but canonicalQuery of that = %q", in, once, twice)
		}
	})
}
