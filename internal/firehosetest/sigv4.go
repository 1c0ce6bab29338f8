package firehosetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Verification of AWS Signature Version 4, as specified in the IAM User Guide ("Create a signed
// AWS API request", "Elements of an AWS API request signature"). It is written here because the
// SDK only signs: no proven library verifies, and verifying with the SDK's own signer would let a
// bug in it cancel itself out.
const (
	sigv4Algorithm   = "AWS4-HMAC-SHA256"
	sigv4Terminator  = "aws4_request"
	amzDateLayout    = "20060102T150405Z"
	scopeDateLayout  = "20060102"
	maxClockSkew     = 15 * time.Minute // AWS refuses a request signed more than 15 minutes away
	headerAmzDate    = "X-Amz-Date"
	headerAmzToken   = "X-Amz-Security-Token"
	headerAmzPayload = "X-Amz-Content-Sha256"
)

// authorization is the parsed Authorization header of a SigV4 request:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request,
//	SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79...
type authorization struct {
	AccessKeyID   string
	Date          string // YYYYMMDD of the credential scope
	Region        string
	Service       string
	SignedHeaders []string // lower case, sorted, as the client listed them
	Signature     string   // lower-case hex
}

var errMalformedAuthorization = errors.New("malformed Authorization header")

// parseAuthorization parses the value of an Authorization header made by a SigV4 signer.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, sigv4Algorithm+" ")
	if !ok {
		return a, fmt.Errorf("%w: algorithm is not %s", errMalformedAuthorization, sigv4Algorithm)
	}
	var credential, signedHeaders string
	for field := range strings.SplitSeq(rest, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return a, fmt.Errorf("%w: field %q has no '='", errMalformedAuthorization, field)
		}
		switch key {
		case "Credential":
			credential = value
		case "SignedHeaders":
			signedHeaders = value
		case "Signature":
			a.Signature = value
		default:
			return a, fmt.Errorf("%w: unknown field %q", errMalformedAuthorization, key)
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != sigv4Terminator || slices.Contains(scope, "") {
		return a, fmt.Errorf("%w: Credential %q is not KEY/DATE/REGION/SERVICE/%s",
			errMalformedAuthorization, credential, sigv4Terminator)
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
	if signedHeaders == "" {
		return a, fmt.Errorf("%w: no SignedHeaders", errMalformedAuthorization)
	}
	a.SignedHeaders = strings.Split(signedHeaders, ";")
	for _, name := range a.SignedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return a, fmt.Errorf("%w: signed header %q is not a lower-case name",
				errMalformedAuthorization, name)
		}
	}
	if len(a.Signature) != 2*sha256.Size || strings.ToLower(a.Signature) != a.Signature {
		return a, fmt.Errorf("%w: Signature is not 64 lower-case hex digits", errMalformedAuthorization)
	}
	if _, err := hex.DecodeString(a.Signature); err != nil {
		return a, fmt.Errorf("%w: Signature: %v", errMalformedAuthorization, err)
	}
	return a, nil
}

// String formats a as an Authorization header value; parseAuthorization(a.String()) gives a back.
func (a authorization) String() string {
	return fmt.Sprintf("%s Credential=%s/%s/%s/%s/%s, SignedHeaders=%s, Signature=%s",
		sigv4Algorithm, a.AccessKeyID, a.Date, a.Region, a.Service, sigv4Terminator,
		strings.Join(a.SignedHeaders, ";"), a.Signature)
}

// authFailure is why a request failed authentication; each service words each kind its own way.
type authFailure int

const (
	authMissing    authFailure = iota + 1 // no Authorization header
	authIncomplete                        // a malformed Authorization header or X-Amz-Date
	authUnknownKey                        // an access key id or session token the server does not know
	authMismatch                          // wrong signature, wrong scope, or a stale date
	authExpired                           // temporary credentials past their expiry
)

// authError is a failed authentication and the message AWS gives for it.
type authError struct {
	failure authFailure
	message string
}

func (e *authError) Error() string { return e.message }

// signer holds the credentials and scope a request must be signed with.
type signer struct {
	accessKeyID     string
	secretAccessKey string
	sessionToken    string
	region          string
}

// messageMismatch is the text AWS answers for a signature that does not match.
const messageMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// verify checks the SigV4 signature of r, whose body was read into body, for service at time now.
func (s signer) verify(r *http.Request, body []byte, service string, now time.Time) *authError {
	header := r.Header.Get("Authorization")
	if header == "" {
		return &authError{authMissing, "Missing Authentication Token"}
	}
	auth, err := parseAuthorization(header)
	if err != nil {
		return &authError{authIncomplete, err.Error()}
	}
	if auth.AccessKeyID != s.accessKeyID || r.Header.Get(headerAmzToken) != s.sessionToken {
		return &authError{authUnknownKey, "The security token included in the request is invalid."}
	}
	if auth.Service != service {
		return &authError{authMismatch, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service)}
	}
	if auth.Region != s.region {
		return &authError{authMismatch, "Credential should be scoped to a valid region. "}
	}
	for _, required := range []string{"host", strings.ToLower(headerAmzDate)} {
		if !slices.Contains(auth.SignedHeaders, required) {
			return &authError{authIncomplete, fmt.Sprintf("'%s' must be a signed header", required)}
		}
	}
	amzDate := r.Header.Get(headerAmzDate)
	signedAt, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return &authError{authIncomplete, fmt.Sprintf("X-Amz-Date %q is not in the form %s", amzDate, amzDateLayout)}
	}
	if auth.Date != signedAt.Format(scopeDateLayout) {
		return &authError{authMismatch, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'",
			auth.Date, signedAt.Format(scopeDateLayout))}
	}
	switch d := now.Sub(signedAt); {
	case d > maxClockSkew:
		return &authError{authMismatch, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))}
	case d < -maxClockSkew:
		return &authError{authMismatch, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))}
	}
	payloadHash := sha256Hex(body)
	if claimed := r.Header.Get(headerAmzPayload); claimed != "" && claimed != payloadHash {
		return &authError{authMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}

	canonical := canonicalRequest(r, auth.SignedHeaders, payloadHash)
	scope := strings.Join([]string{auth.Date, auth.Region, auth.Service, sigv4Terminator}, "/")
	stringToSign := strings.Join([]string{sigv4Algorithm, amzDate, scope, sha256Hex([]byte(canonical))}, "\n")
	want := hex.EncodeToString(hmacSHA256(s.signingKey(auth.Date, service), stringToSign))
	if !hmac.Equal([]byte(want), []byte(auth.Signature)) {
		return &authError{authMismatch, messageMismatch}
	}
	return nil
}

// signingKey derives the SigV4 key for one day, region and service from the secret.
func (s signer) signingKey(date, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+s.secretAccessKey), date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, sigv4Terminator)
}

// canonicalRequest builds the SigV4 canonical request of r over the headers the client signed.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// Services other than S3 encode the already escaped path once more.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(uriEncode(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalHeaderValue is the value of the named header as it was sent: values joined by commas,
// each trimmed and with runs of spaces collapsed to one.
func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		// net/http moves Host out of the header map.
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values(name)
		if len(values) == 0 && r.ContentLength >= 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalQuery sorts the query parameters by name, then value, and encodes them as SigV4 wants.
func canonicalQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	var pairs []string
	for param := range strings.SplitSeq(rawQuery, "&") {
		if param == "" {
			continue
		}
		key, value, _ := strings.Cut(param, "=")
		k, errK := url.QueryUnescape(key)
		v, errV := url.QueryUnescape(value)
		if errK != nil || errV != nil {
			// Keep what the client sent; the signatures will differ and the request be refused.
			k, v = key, value
		}
		pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters (A-Z a-z 0-9 - _ . ~), and
// but '/' unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// VerifySigV4 checks that r, whose body was read into body, carries an AWS Signature Version 4
// made with creds for region and service, now, as the Server checks its own requests, for test
// servers of other AWS JSON services (package kinesistest). It returns "", or the error code and
// message that a JSON 1.1 service such as Firehose or Kinesis Data Streams answers, with HTTP
// status 400, for what is wrong.
func VerifySigV4(r *http.Request, body []byte, creds aws.Credentials, region, service string) (code, message string) {
	s := signer{accessKeyID: creds.AccessKeyID, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.SessionToken, region: region}
	if err := s.verify(r, body, service, time.Now()); err != nil {
		e := firehoseAuthError(err)
		return e.code, e.message
	}
	return "", ""
}
