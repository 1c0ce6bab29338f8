package firehosetest

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/google/uuid"
)

// A Role is the one IAM role the server's STS lets the configured credentials assume
// (sts:AssumeRole), as a role in another account whose trust policy names the caller.
type Role struct {
	// ARN is the role, arn:aws:iam::ACCOUNT:role/NAME. Its account owns the delivery streams:
	// their ARNs and GetCallerIdentity of its sessions name it.
	ARN string
	// ExternalID, when set, must be the ExternalId of every AssumeRole call, as a trust policy's
	// sts:ExternalId condition requires.
	ExternalID string
	// Lifetime, when set, is how long the credentials AssumeRole issues last when the call asked
	// for longer: tests shorten it below STS's 15-minute minimum to see credentials refreshed.
	// Zero means what the call asked (DurationSeconds, else an hour).
	Lifetime time.Duration
}

// AssumeRole's limits (STS API reference, AssumeRole: RoleSessionName 2 to 64 characters of
// [\w+=,.@-], ExternalId 2 to 1,224 of [\w+=,.@:\/-], DurationSeconds 900 to 43,200, by default
// 3,600).
const (
	opAssumeRole          = "AssumeRole"
	minRoleDuration       = 900 * time.Second
	maxRoleDuration       = 43200 * time.Second
	defaultRoleDuration   = time.Hour
	assumedRoleIDPrefix   = "AROAKINESYSLOGROLE000" // "AROA" and 17 characters, as role ids are
	issuedAccessKeyPrefix = "ASIA"                  // temporary credentials' key ids start so
)

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// A principal is who signed a request: the configured IAM user, or a session of the Role.
type principal struct {
	arn     string
	userID  string
	account string
	assumed bool
}

// session is a set of temporary credentials AssumeRole issued.
type session struct {
	secretAccessKey string
	sessionToken    string
	expires         time.Time
	principal       principal
}

// roleAccount is the account in cfg.Role.ARN, or "" when there is no role.
func roleAccount(cfg Config) (string, error) {
	if cfg.Role.ARN == "" {
		return "", nil
	}
	a, err := arn.Parse(cfg.Role.ARN)
	if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") || a.AccountID == "" {
		return "", fmt.Errorf("firehosetest: Role.ARN %q is not arn:aws:iam::ACCOUNT:role/NAME", cfg.Role.ARN)
	}
	return a.AccountID, nil
}

// streamAccount is the account that owns the delivery streams: the role's when there is one.
func (s *Server) streamAccount() string {
	if s.roleAccount != "" {
		return s.roleAccount
	}
	return s.cfg.Account
}

// user is the principal of the configured credentials.
func (s *Server) user() principal {
	return principal{arn: s.userARN(), userID: stsUserID, account: s.cfg.Account}
}

// authenticate verifies the signature of r for service, with the configured credentials or
// those of a session AssumeRole issued, and returns who signed it; it counts a failure.
func (s *Server) authenticate(r *http.Request, body []byte, service string) (principal, *authError) {
	now := time.Now()
	p, v := s.user(), s.signer
	var expires time.Time // of a session's credentials; zero for the configured ones
	if auth, err := parseAuthorization(r.Header.Get("Authorization")); err == nil && strings.HasPrefix(auth.AccessKeyID, issuedAccessKeyPrefix) {
		s.mu.Lock()
		sess, ok := s.sessions[auth.AccessKeyID]
		s.mu.Unlock()
		if ok {
			p, expires = sess.principal, sess.expires
			v = signer{accessKeyID: auth.AccessKeyID, secretAccessKey: sess.secretAccessKey,
				sessionToken: sess.sessionToken, region: s.cfg.Region}
		}
	}
	err := v.verify(r, body, service, now)
	if err == nil && !expires.IsZero() && !now.Before(expires) {
		err = &authError{authExpired, "The security token included in the request is expired"}
	}
	if err != nil {
		s.countAuthFailure()
		return p, err
	}
	return p, nil
}

// assumeRole answers an AssumeRole call of p: temporary credentials of the Role when p may
// assume it (p is the configured user, the role and external ID are the Role's).
func (s *Server) assumeRole(w http.ResponseWriter, p principal, form url.Values) {
	roleARN, sessionName, externalID := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	var invalid []string
	validate := func(ok bool, value, member, constraint string) {
		if !ok {
			invalid = append(invalid, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, member, constraint))
		}
	}
	validate(len(roleARN) >= 20 && len(roleARN) <= 2048, strconv.Quote(roleARN), "roleArn", "have length between 20 and 2048")
	validate(sessionNamePattern.MatchString(sessionName), strconv.Quote(sessionName), "roleSessionName",
		`satisfy regular expression pattern: [\w+=,.@-]* and have length between 2 and 64`)
	if form.Has("ExternalId") {
		validate(externalIDPattern.MatchString(externalID) && len(externalID) >= 2 && len(externalID) <= 1224, strconv.Quote(externalID), "externalId",
			`satisfy regular expression pattern: [\w+=,.@:\/-]* and have length between 2 and 1224`)
	}
	lifetime := defaultRoleDuration
	if d := form.Get("DurationSeconds"); d != "" {
		seconds, err := strconv.Atoi(d)
		lifetime = time.Duration(seconds) * time.Second
		validate(err == nil && lifetime >= minRoleDuration && lifetime <= maxRoleDuration, d, "durationSeconds",
			"have value between 900 and 43200")
	}
	if len(invalid) > 0 {
		writeSTSError(w, apiError{http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("%d validation error%s detected: %s", len(invalid), map[bool]string{true: "s"}[len(invalid) > 1], strings.Join(invalid, "; "))})
		return
	}
	role := s.cfg.Role
	if p.assumed || role.ARN == "" || roleARN != role.ARN || (role.ExternalID != "" && externalID != role.ExternalID) {
		writeSTSError(w, apiError{http.StatusForbidden, "AccessDenied",
			fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", p.arn, roleARN)})
		return
	}
	if role.Lifetime > 0 && role.Lifetime < lifetime {
		lifetime = role.Lifetime
	}
	// STS states the expiry to the second; the server holds the credentials to what it states.
	expires := time.Now().Add(lifetime).Truncate(time.Second)
	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	key := issuedAccessKeyPrefix + randomText(1)[:16]
	sess := session{
		secretAccessKey: randomText(2),
		sessionToken:    randomText(6),
		expires:         expires,
		principal: principal{
			arn:     fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.roleAccount, roleName, sessionName),
			userID:  assumedRoleIDPrefix + ":" + sessionName,
			account: s.roleAccount,
			assumed: true,
		},
	}
	s.mu.Lock()
	s.sessions[key] = sess
	s.mu.Unlock()

	requestID := uuid.NewString()
	var answer assumeRoleResponse
	answer.Namespace = stsNamespace
	answer.Result.AssumedRoleUser.Arn = sess.principal.arn
	answer.Result.AssumedRoleUser.AssumedRoleID = sess.principal.userID
	answer.Result.Credentials = issuedCredentials{AccessKeyID: key, SecretAccessKey: sess.secretAccessKey,
		SessionToken: sess.sessionToken, Expiration: expires.UTC().Format(time.RFC3339)}
	answer.RequestID = requestID
	writeSTS(w, http.StatusOK, requestID, answer)
}

type issuedCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type assumeRoleResponse struct {
	XMLName   xml.Name `xml:"AssumeRoleResponse"`
	Namespace string   `xml:"xmlns,attr"`
	Result    struct {
		AssumedRoleUser struct {
			Arn           string
			AssumedRoleID string `xml:"AssumedRoleId"`
		}
		Credentials issuedCredentials
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// randomText returns n blocks of 26 random base32 characters (128 bits each): key ids, secrets
// and tokens that match nothing but themselves.
func randomText(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(rand.Text())
	}
	return b.String()
}
