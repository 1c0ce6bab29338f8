package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/firehosetest"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// dashboardFile is the Grafana dashboard of contrib/grafana, from this package's directory.
var dashboardFile = filepath.Join("..", "..", "contrib", "grafana", "kinesyslog.json")

// dashboardMetric matches the metrics a PromQL expression of the dashboard may name: the
// relay's own and the Go runtime's and process's that its registry serves. An expression that
// names none is an error of the test, so that a metric of another name cannot slip by.
var dashboardMetric = regexp.MustCompile(`\b(?:kinesyslog|process|go)_[a-zA-Z0-9_]+\b`)

// A grafanaDashboard is what the test reads of Grafana's dashboard JSON model.
type grafanaDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string             `json:"expr"`
		RefID      string             `json:"refId"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Panels  []grafanaPanel            `json:"panels"` // of a collapsed row
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// dashboardMetrics reads the dashboard at path, checks its shape (a Prometheus data source
// variable every query uses, panel ids unique, every query naming a metric) and returns the
// metrics its queries and variables name, each with the panels that query it.
func dashboardMetrics(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("%s: uid %q, title %q, schemaVersion %d; want a uid, a title and schemaVersion 36 or later", path, d.UID, d.Title, d.SchemaVersion)
	}
	metrics := map[string][]string{}
	const dsVar = "${datasource}"
	hasDatasource := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && string(v.Query) == `"prometheus"` {
			hasDatasource = true
		}
		for _, m := range dashboardMetric.FindAllString(string(v.Query), -1) {
			metrics[m] = append(metrics[m], "variable "+v.Name)
		}
	}
	if !hasDatasource {
		t.Errorf("%s: no Prometheus data source variable named datasource", path)
	}
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			if ids[p.ID] || p.GridPos == nil {
				t.Errorf("%s: panel %q: id %d repeated or no gridPos", path, p.Title, p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 || p.Datasource == nil || p.Datasource.UID != dsVar {
				t.Errorf("%s: panel %q: %d queries, data source %+v; want queries of %s", path, p.Title, len(p.Targets), p.Datasource, dsVar)
			}
			for _, q := range p.Targets {
				names := dashboardMetric.FindAllString(q.Expr, -1)
				if len(names) == 0 || q.RefID == "" || q.Datasource == nil || q.Datasource.UID != dsVar {
					t.Errorf("%s: panel %q: query %s %q names no metric, or has no refId or data source %s", path, p.Title, q.RefID, q.Expr, dsVar)
				}
				for _, m := range names {
					metrics[m] = append(metrics[m], p.Title)
				}
			}
		}
	}
	walk(d.Panels)
	return metrics
}

// TestDashboard checks that every metric the Grafana dashboard queries is one the relay exports.
// It runs the real relay against the Firehose test server with every stage the dashboard shows
// (TCP, UDP, TLS, RELP, the intake log), a throttled call and a refused record so that the
// series by error code exist, a relay delivering to two streams and one reading GELF, and
// scrapes their /metrics.
func TestDashboard(t *testing.T) {
	queried := dashboardMetrics(t, dashboardFile)

	srv := firehosetest.Start(t, firehosetest.Config{})
	srv.SetFault(firehosetest.Fault{
		Call: func(op string, n int) firehosetest.CallFault {
			if op == "PutRecordBatch" && n == 1 {
				return firehosetest.Throttle
			}
			return firehosetest.NoFault
		},
		RecordFailure: func(n, i int, _ []byte) firehosetest.RecordFailure {
			if n == 2 && i == 0 {
				return firehosetest.RecordThrottled
			}
			return firehosetest.RecordFailure{}
		},
	})
	ports := testenv.FreePorts(t, 2)
	r := startFaultRelay(t, srv, faultOptions{udp: true, args: []string{
		"--tls-port", Port(ports[0]), "--relp-port", Port(ports[1]), "--intake-log", "on"}})
	sendUntilSpooled(t, r, "dashboard")
	for _, name := range []string{"kinesyslog_upload_call_errors_total", "kinesyslog_upload_failed_records_total", "kinesyslog_upload_delivered_records_total"} {
		r.waitMetric(t, name, "above 0", func(v float64) bool { return v > 0 })
	}
	// A relay that spreads its calls over two streams, for the metrics by stream, and one that
	// reads GELF.
	streams := firehosetest.Start(t, firehosetest.Config{Streams: []string{"dashboard-a", "dashboard-b"}})
	args, env := FirehoseArgs(streams)
	spread := Start(t, Options{Args: append(args, "--stream", streams.Config().Streams[1],
		"--address", "127.0.0.1", "--tcp-port", Port(testenv.FreePort(t))), Env: env, Metrics: true})
	gelf := Start(t, Options{Args: []string{"--gelf", "--output", filepath.Join(t.TempDir(), "out"),
		"--address", "127.0.0.1", "--udp-port", Port(testenv.FreePort(t))}, Metrics: true})
	exported := map[string]bool{}
	for _, relay := range []*Relay{r.Relay, spread, gelf} {
		for series := range relay.Scrape(t) {
			name, _, _ := strings.Cut(series, "{")
			exported[name] = true
		}
	}

	var missing []string
	for name, panels := range queried {
		if !exported[name] {
			missing = append(missing, name+" (in "+strings.Join(slices.Compact(panels), ", ")+")")
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("%s queries %s, which the relay does not export", dashboardFile, m)
	}
	t.Logf("the dashboard queries %d metrics; the relays export %d", len(queried), len(exported))
}
