package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// A Check reports whether one part of the relay is well: nil, or an error that says in a few
// words what is wrong ("spool full: 10737418240 of 10737418240 bytes"). It is called on every
// probe, so it must be quick and safe for concurrent use.
type Check func() error

// Health is what /healthz and /readyz report: checks that the wiring registers, so that this
// package knows nothing of the stages. /healthz runs the liveness checks (Live, Stage): the
// process works and its stages run, else it should be restarted. /readyz runs the readiness
// checks (Ready): the relay can take messages and deliver them now, else a load balancer should
// send them elsewhere. Each answers 200 when all of its checks pass and 503 with their reasons
// when one fails. The zero value has no check (both answer 200) and is ready for use; a Health
// is safe for concurrent use.
type Health struct {
	mu    sync.Mutex
	live  []namedCheck
	ready []namedCheck
}

type namedCheck struct {
	name  string
	check Check
}

// Live adds a liveness check, reported under name.
func (h *Health) Live(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = append(h.live, namedCheck{name, c})
}

// Ready adds a readiness check, reported under name.
func (h *Health) Ready(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = append(h.ready, namedCheck{name, c})
}

// Stage adds a liveness check of a long-lived stage that runs until the returned func is called:
// from then on /healthz reports "stopped" under "stage <name>". Call it where the stage's Run
// starts, and the returned func where Run returns (defer h.Stage("uploader")()).
func (h *Health) Stage(name string) (stopped func()) {
	var mu sync.Mutex
	running := true
	h.Live("stage "+name, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !running {
			return errStopped
		}
		return nil
	})
	return func() {
		mu.Lock()
		running = false
		mu.Unlock()
	}
}

var errStopped = errors.New("stopped")

// Statuses of a probe's answer.
const (
	statusOK          = "ok"
	statusUnavailable = "unavailable"
)

// report is a probe's answer as JSON: {"status":"unavailable","checks":{"spool":"ok",
// "destination":"no record delivered for 2m0s while 3 wait"}}.
type report struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handler returns the handler of /healthz (live) or /readyz.
func (h *Health) handler(live bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		checks := h.ready
		if live {
			checks = h.live
		}
		h.mu.Unlock() // Live and Ready only append: the checks up to len stay as they are

		rep := report{Status: statusOK, Checks: make(map[string]string, len(checks))}
		var text strings.Builder
		for _, c := range checks {
			result := statusOK
			if err := c.check(); err != nil {
				rep.Status, result = statusUnavailable, err.Error()
			}
			rep.Checks[c.name] = result
			fmt.Fprintf(&text, "%s: %s\n", c.name, result)
		}
		code := http.StatusOK
		if rep.Status != statusOK {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		if wantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(rep) // a client gone is nothing to report
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%s\n%s", rep.Status, text.String())
	})
}

// wantsJSON reports whether r asks for JSON: ?format=json, or application/json in Accept.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
