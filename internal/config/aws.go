package config

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/kinesyslog/kinesyslog/internal/awsconf"
)

var (
	// roleARN is an IAM role's ARN: arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME.
	roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	// roleSessionName is AssumeRole's RoleSessionName: 2 to 64 characters of [\w+=,.@-].
	roleSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	// externalID is AssumeRole's ExternalId: 2 to 1,224 characters of [\w+=,.@:/-].
	externalID = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// maxExternalIDLength is the longest ExternalId AssumeRole takes.
const maxExternalIDLength = 1224

// AWS is where the AWS configuration of the relay and of `dump s3://` comes from, beyond what
// the SDK reads by itself (AWS_* variables, the shared files, web identity, instance roles).
// Every zero field leaves its choice to the SDK.
type AWS struct {
	// Region is the AWS region (--region). Empty leaves it to the SDK's configuration chain.
	Region string
	// Profile is the profile of the AWS shared configuration files (--profile). Empty leaves it
	// to the SDK (AWS_PROFILE, else "default").
	Profile string
	// RoleARN is an IAM role to assume for every call (--role-arn), for delivery into another
	// account. Empty assumes none; web identity (AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE)
	// still works through the SDK.
	RoleARN string
	// ExternalID is the external ID the role's trust policy requires (--external-id). Empty
	// sends none; it needs RoleARN.
	ExternalID string
	// RoleSessionName names the role's sessions in CloudTrail (--role-session-name). Empty means
	// awsconf.DefaultRoleSessionName; it needs RoleARN.
	RoleSessionName string
}

// AddFlags defines on fs the flags of a's fields, with a's values as the defaults --help shows.
func (a *AWS) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.Region, "region", a.Region,
		"AWS `REGION`; overrides the AWS config files and environment")
	fs.StringVar(&a.Profile, "profile", a.Profile,
		"`PROFILE` of the AWS config and credentials files")
	fs.StringVar(&a.RoleARN, "role-arn", a.RoleARN,
		"IAM role `ARN` to assume for every AWS call (cross-account delivery); credentials are refreshed before they expire")
	fs.StringVar(&a.ExternalID, "external-id", a.ExternalID,
		"external `ID` the role's trust policy requires; needs --role-arn")
	fs.StringVar(&a.RoleSessionName, "role-session-name", a.RoleSessionName,
		"`NAME` of the role's sessions in CloudTrail; needs --role-arn (default "+awsconf.DefaultRoleSessionName+")")
}

// Role returns the role a describes; its zero value, with no ARN, assumes none.
func (a AWS) Role() awsconf.Role {
	return awsconf.Role{ARN: a.RoleARN, ExternalID: a.ExternalID, SessionName: a.RoleSessionName}
}

// Options returns the awsconf.Options a describes, the SDK logging to logger.
func (a AWS) Options(logger *slog.Logger) awsconf.Options {
	return awsconf.Options{Region: a.Region, Profile: a.Profile, Role: a.Role(), Logger: logger}
}

// Validate reports every problem of a, joined with errors.Join, each naming the flag to change.
func (a AWS) Validate() error {
	var errs []error
	a.check(func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) })
	return errors.Join(errs...)
}

// check calls bad once for each problem of a.
func (a AWS) check(bad func(format string, args ...any)) {
	if a.RoleARN != "" && !roleARN.MatchString(a.RoleARN) {
		bad("--role-arn %q: want an IAM role's ARN, arn:aws:iam::ACCOUNT:role/NAME", a.RoleARN)
	}
	if a.RoleARN == "" && a.ExternalID != "" {
		bad("--external-id needs --role-arn: it is sent when assuming the role")
	}
	if a.RoleARN == "" && a.RoleSessionName != "" {
		bad("--role-session-name needs --role-arn: it names the role's sessions")
	}
	if a.ExternalID != "" && (len(a.ExternalID) < 2 || len(a.ExternalID) > maxExternalIDLength || !externalID.MatchString(a.ExternalID)) {
		bad("--external-id: 2 to %d letters, digits or any of _+=,.@:/-", maxExternalIDLength)
	}
	if a.RoleSessionName != "" && !roleSessionName.MatchString(a.RoleSessionName) {
		bad("--role-session-name %q: 2 to 64 letters, digits or any of _+=,.@-", a.RoleSessionName)
	}
}
