// Package awsconf loads the AWS SDK for Go v2 configuration that every AWS client of the relay
// shares (the Firehose destination, and any other AWS destination or reader): the region, the
// shared configuration profile, the credentials and the STS client used to learn accounts.
//
// [Load] reads the configuration the SDK's default way: credentials from the environment, the
// shared files (optionally a named profile), SSO, web identity (AWS_WEB_IDENTITY_TOKEN_FILE with
// AWS_ROLE_ARN, as EKS IRSA sets them), the container or the EC2 instance role; the region from
// [Options], the environment or the profile. The SDK's own log lines go to the relay's
// *slog.Logger, and its endpoint variables (AWS_ENDPOINT_URL_<SERVICE>) keep working.
//
// With Options.Role, Load assumes the role (sts:AssumeRole, at Options.STSEndpointURL or
// AWS_ENDPOINT_URL_STS) with the credentials of that chain and signs every call with the role's
// temporary credentials, cached and assumed again a quarter of their life before they expire
// (at most five minutes before), so that a relay runs for ever on one configuration. STS refusing
// the role is a [*CredentialsError]; STS not answering (a timeout, throttling, a 5xx) is not.
//
// A failure to get credentials happens before any request is sent and the SDK reports it as a
// plain error; the credentials Load returns mark it as a [*CredentialsError], so that callers
// can tell "no credentials" from a network failure.
//
// [NewSTS] returns an STS client without the SDK's retries (callers own every retry, with one
// backoff policy); [ARNAccount] and [IsAccountID] read account IDs; [DescribeAll] checks every
// stream of a destination and that they are all of one account ([ErrAccountsDiffer]); [NewSetup]
// is what every AWS destination is made of besides its service's client (the configuration, STS,
// the [Owner], the call timeout), so that the Firehose and Kinesis destinations differ only in
// their service's calls.
//
// [Owner] is the records' owner of an AWS destination: --account-id when given, else what the
// destination's [Lookup] learns from AWS (the account in the stream's ARN, else STS), kept in
// the state directory (the spool's [OwnerFile]) so that a relay started while AWS cannot be
// reached uses the owner an earlier run learned; [Owner.Run] asks AWS with backoff until it
// answers.
package awsconf
