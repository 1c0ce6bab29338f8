package firehosetest

import (
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// The STS side of the server: the AWS query protocol, a form POST naming Action and Version,
// answered in XML.
const (
	stsService   = "sts" // SigV4 signing name
	stsVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// stsUserID is the unique id of the IAM user the test credentials belong to: "AIDA" and 17
	// characters, as IAM user ids are.
	stsUserID = "AIDAKINESYSLOGTEST000"
)

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, body []byte, f Fault) {
	p, auth := s.authenticate(r, body, stsService)
	if auth != nil {
		writeSTSError(w, stsAuthError(auth))
		return
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || mediaType != "application/x-www-form-urlencoded" || err != nil {
		writeSTSError(w, apiError{http.StatusBadRequest, "InvalidAction", "Not a form POST of the AWS query protocol."})
		return
	}
	action, version := form.Get("Action"), form.Get("Version")
	if (action != opGetCallerIdentity && action != opAssumeRole) || version != stsVersion {
		writeSTSError(w, apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", action, version)})
		return
	}

	_, cf := s.admit(action, f)
	switch cf {
	case NoFault:
	case LoseResponse:
		panic(http.ErrAbortHandler)
	default:
		writeSTSError(w, s.stsFault(p, action, cf))
		return
	}
	if action == opAssumeRole {
		s.assumeRole(w, p, form)
		return
	}
	requestID := uuid.NewString()
	writeSTS(w, http.StatusOK, requestID, getCallerIdentityResponse{
		Namespace: stsNamespace,
		Result:    callerIdentity{Arn: p.arn, UserID: p.userID, Account: p.account},
		RequestID: requestID,
	})
}

type callerIdentity struct {
	Arn     string
	UserID  string `xml:"UserId"`
	Account string
}

type getCallerIdentityResponse struct {
	XMLName   xml.Name       `xml:"GetCallerIdentityResponse"`
	Namespace string         `xml:"xmlns,attr"`
	Result    callerIdentity `xml:"GetCallerIdentityResult"`
	RequestID string         `xml:"ResponseMetadata>RequestId"`
}

// stsAuthError words a failed authentication as STS does.
func stsAuthError(e *authError) apiError {
	switch e.failure {
	case authMissing:
		return apiError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	case authIncomplete:
		return apiError{http.StatusBadRequest, "IncompleteSignature", e.message}
	case authUnknownKey:
		return apiError{http.StatusForbidden, "InvalidClientTokenId", e.message}
	case authExpired:
		return apiError{http.StatusForbidden, "ExpiredToken", e.message}
	default:
		return apiError{http.StatusForbidden, "SignatureDoesNotMatch", e.message}
	}
}

// stsFault is the answer to an STS call of p given a call-level fault.
func (s *Server) stsFault(p principal, action string, cf CallFault) apiError {
	switch cf {
	case Throttle:
		return apiError{http.StatusBadRequest, "Throttling", "Rate exceeded"}
	case AccessDenied:
		return apiError{http.StatusForbidden, "AccessDenied",
			fmt.Sprintf("User: %s is not authorized to perform: sts:%s", p.arn, action)}
	case ExpiredToken:
		return apiError{http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired"}
	default:
		return apiError{http.StatusInternalServerError, "InternalFailure", "An internal error occurred."}
	}
}

// writeSTS answers an STS call with v as XML; requestID goes in the header too, as STS does.
func writeSTS(w http.ResponseWriter, status int, requestID string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("firehosetest: marshal answer: %v", err))
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// writeSTSError answers an STS call with an ErrorResponse: Type Sender for the client's errors,
// Receiver for the service's.
func writeSTSError(w http.ResponseWriter, e apiError) {
	type errorBody struct {
		Type    string
		Code    string
		Message string
	}
	kind := "Sender"
	if e.status >= http.StatusInternalServerError {
		kind = "Receiver"
	}
	requestID := uuid.NewString()
	writeSTS(w, e.status, requestID, struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Namespace string   `xml:"xmlns,attr"`
		Error     errorBody
		RequestID string `xml:"RequestId"`
	}{Namespace: stsNamespace, Error: errorBody{kind, e.code, e.message}, RequestID: requestID})
}
