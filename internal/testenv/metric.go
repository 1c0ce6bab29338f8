package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric returns the value of the counter or gauge name that g gathers, summed over its series;
// 0 when g has none (a vector before its first series). A failure to gather fails the test.
func Metric(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	families, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// Scrape returns every series the Prometheus text endpoint url shows, keyed by name and labels as
// the text format writes them, e.g. `kinesyslog_connections_refused_total{reason="proxy_header"}`.
// It opens a connection of its own and closes it: an idle keep-alive connection would hold a
// goroutine of the server and spoil counts of its goroutines.
func Scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("scrape %s: metric line %q: %w", url, line, err)
		}
		series[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return series, nil
}

// Totals returns series by metric name, each the sum of its series over their labels; a
// labelled metric that has counted nothing yet may be absent, which reads as 0.
func Totals(series map[string]float64) map[string]float64 {
	totals := map[string]float64{}
	for s, v := range series {
		name, _, _ := strings.Cut(s, "{")
		totals[name] += v
	}
	return totals
}
