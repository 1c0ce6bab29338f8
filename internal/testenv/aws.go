package testenv

import (
	"path/filepath"
	"testing"
)

// IsolateAWS makes the AWS SDK in this test see only what the test gives it: no shared
// configuration or credentials files of the machine, no instance metadata service, and no
// ambient credentials, region, profile, role or endpoints (AWS_ENDPOINT_URL_FIREHOSE,
// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_STS, ...). It uses t.Setenv, so the test must not be
// parallel.
func IsolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_STS",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
	}
}
