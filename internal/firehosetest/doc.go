// Package firehosetest runs an Amazon Data Firehose and AWS STS endpoint for tests: a real HTTP
// server on 127.0.0.1 that speaks the wire protocols the AWS SDK for Go v2 speaks, so tests drive
// the real SDK client over a real socket instead of mocking it.
//
// # What it serves
//
// Firehose, AWS JSON 1.1 (POST /, Content-Type application/x-amz-json-1.1,
// X-Amz-Target: Firehose_20150804.<Operation>):
//   - DescribeDeliveryStream: the stream's status (ACTIVE, CREATING, ...) and its ARN
//     (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME, with Config.Account), or
//     ResourceNotFoundException for a stream the server does not know.
//   - PutRecordBatch: stores each accepted record with the RecordId it answers; answers
//     FailedPutCount, Encrypted and one RequestResponses entry per record, in order, with either
//     RecordId or ErrorCode and ErrorMessage.
//
// STS, AWS query protocol (form POST Action=...&Version=2011-06-15, answered in XML):
//   - GetCallerIdentity: the account, ARN and user id of whoever signed the call: the configured
//     user, or a session of the role.
//   - AssumeRole: with Config.Role, temporary credentials (an ASIA key id, a secret, a session
//     token and an expiry, Role.Lifetime when shorter than asked) for the configured credentials,
//     when RoleArn is the role's and ExternalId the one it requires; else AccessDenied, or
//     ValidationError for members outside STS's limits.
//
// Errors have the shapes the SDK's deserializers read: for Firehose a JSON body with "__type" and
// "message" (HTTP 400 for client errors, 500 and 503 for service ones); for STS an XML
// ErrorResponse with Error/Type, Error/Code and Error/Message.
//
// # What it enforces
//
// Every request must carry an AWS Signature Version 4 made with the configured credentials, or
// with credentials AssumeRole issued and not yet expired (ExpiredTokenException, ExpiredToken
// after), for the configured region and the right service name ("firehose" or "sts"). With a
// role, Firehose serves only the role's sessions: the streams are its account's, and a call
// signed with the configured credentials is refused with AccessDeniedException. The server recomputes
// the signature from the request it received (canonical request, string to sign, signing key) and
// answers as AWS does when it does not match: MissingAuthenticationTokenException,
// UnrecognizedClientException or InvalidSignatureException for Firehose; MissingAuthenticationToken,
// InvalidClientTokenId or SignatureDoesNotMatch for STS.
//
// PutRecordBatch enforces the service's quotas (Amazon Data Firehose quotas: "Each
// PutRecordBatch request supports up to 500 records. Each record in the request can be as large as
// 1,000 KB (before base64 encoding), up to a limit of 4 MB for the entire request."): at least 1
// and at most 500 records, at most 1,024,000 bytes per record (ValidationException, worded as the
// service words it), at most 4,000,000 bytes of decoded data per call (InvalidArgumentException
// "Records size exceeds 4 MB limit"; the strict reading of "4 MB"). Config can lower the limits to
// imitate a service stricter than the client expects.
//
// # Quotas
//
// Config.Quota, and [Server.SetQuota] for one stream, give delivery streams a Direct PUT
// throughput quota, as the service does (5 MiB/s, 2,000 requests/s and 500,000 records/s in the
// largest regions; 1 MiB/s and 1,000 requests/s in most others): bytes, records and requests per
// second, each a token bucket with a burst of a second ([Quota]). A call past the request rate
// is refused with ServiceUnavailableException "Slow down." (HTTP 503); in a call that goes
// ahead, each record past the byte or record rate is refused alone with the per-record
// ServiceUnavailableException "Slow down." and counted in FailedPutCount, while those that fit
// are stored. [Stats] counts the calls and records a quota refused.
//
// # Faults
//
// [Server.SetFault] changes, at any time and from any goroutine, how the server misbehaves:
// per-record failures (a rate or a deterministic function), call-level throttling, internal
// errors, access denied and expired tokens (a rate or a deterministic function of the call
// number), lost responses, slow answers, and outages (connections refused, every request answered
// 503 by a "load balancer", or requests that hang). [Server.SetStreamFault] does the same for the
// calls to one delivery stream. [Server.SetStream] changes a stream's status.
//
// # Links
//
// Config.UplinkBytesPerSecond puts a slow link, shared by every connection, between clients and
// the server, as a remote site's uplink is; what the link has not carried yet waits in the
// sockets' buffers, so that a call a client gave up on after it wrote the whole request is still
// carried out, as it can be in front of the real service. Config.MaxBodyBytes puts a proxy in
// front that answers HTTP 413 to larger requests.
//
// # Inspecting
//
// [Server.Records] returns every accepted record in order; [Server.Stats] counts requests,
// authentication failures, calls per operation, injected faults, records accepted and failed,
// calls and records refused by a quota, and the duplicates among those accepted.
//
// All methods of [Server] are safe for concurrent use.
package firehosetest
