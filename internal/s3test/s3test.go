// Package s3test runs s3rver (npm), an S3-compatible server, for tests that drive the real AWS
// SDK's S3 client over a real socket: started on a free loopback port with a temporary
// directory, stopped when the test ends. The test is skipped, saying why, when s3rver or node
// is not installed (bash .ci/install-npm installs it), and fails instead with
// KINESYSLOG_REQUIRE_INTEROP=1.
//
// s3rver checks SigV4 signatures made with its fixed credentials (AccessKeyID,
// SecretAccessKey), lists with ListObjectsV2 pages of at most 1,000 keys (continuation tokens
// and StartAfter), and serves buckets in the path (path-style addressing).
package s3test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// The credentials s3rver accepts, and the region the clients sign for.
const (
	AccessKeyID     = "S3RVER"
	SecretAccessKey = "S3RVER"
	Region          = "us-east-1"
)

// A Server is a running s3rver.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT.
	URL string
	// Client is an S3 client of the server: path-style, with its credentials.
	Client *s3.Client
}

// Start runs s3rver with the buckets given, empty, and waits until it answers.
func Start(tb testing.TB, buckets ...string) *Server {
	tb.Helper()
	bin, err := testenv.NPMProgram("s3rver")
	if err != nil {
		testenv.Missing(tb, err)
	}
	port := strconv.Itoa(testenv.FreePort(tb))
	args := []string{"--directory", tb.TempDir(), "--address", "127.0.0.1", "--port", port, "--silent"}
	for _, b := range buckets {
		args = append(args, "--configure-bucket", b)
	}
	cmd := exec.Command(bin, args...)
	// s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its
	// legacy provider: without it every listing past the first page fails with InternalError.
	cmd.Env = append(cmd.Environ(), "NODE_OPTIONS=--openssl-legacy-provider")
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start s3rver: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("s3rver output:\n%s", out.String())
		}
	})
	s := &Server{URL: "http://127.0.0.1:" + port}
	s.Client = s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		// s3rver takes neither aws-chunked bodies nor their checksum trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
	testenv.Eventually(tb, "s3rver answering on port "+port, func() bool {
		_, err := s.Client.ListBuckets(context.Background(), &s3.ListBucketsInput{})
		return err == nil
	})
	return s
}

// Environ returns the environment ("NAME=value") that gives an AWS SDK program the server's
// credentials, region and endpoint (AWS_ENDPOINT_URL_S3), and keeps it from the instance
// metadata service.
func (s *Server) Environ() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_S3=" + s.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
