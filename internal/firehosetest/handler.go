package firehosetest

import (
	"errors"
	"io"
	"net/http"
)

// The operations the server serves.
const (
	opPutRecordBatch         = "PutRecordBatch"
	opDescribeDeliveryStream = "DescribeDeliveryStream"
	opGetCallerIdentity      = "GetCallerIdentity"
)

// An apiError is an error answer: its HTTP status, the error code as the service sends it, and
// its message.
type apiError struct {
	status  int
	code    string
	message string
}

// ServeHTTP answers one request: a Firehose call when it has an X-Amz-Target header, else an STS
// call. It applies the fault in force.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, changed := s.snapshot()
	switch f.Outage {
	case OutageUnavailable:
		s.countFault()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>\n")
		return
	case OutageHang:
		s.countFault()
		s.hold(r.Context(), -1, changed)
		panic(http.ErrAbortHandler)
	}
	if f.Latency > 0 && !s.hold(r.Context(), f.Latency, changed) {
		panic(http.ErrAbortHandler)
	}

	if s.cfg.MaxBodyBytes > 0 && r.ContentLength > int64(s.cfg.MaxBodyBytes) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n"+
			"<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
		return
	}
	target := r.Header.Get("X-Amz-Target")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) && target != "":
		writeFirehoseError(w, errBatchSize)
		return
	case errors.As(err, &tooLarge):
		writeSTSError(w, apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body too large."})
		return
	case err != nil:
		// The client went away mid-request: nobody to answer.
		return
	}

	if target != "" {
		s.serveFirehose(w, r, target, body, f)
	} else {
		s.serveSTS(w, r, body, f)
	}
}
