package bench

import (
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"slices"
	"text/tabwriter"
)

// The scenarios of bench/run that issue 13's targets are measured on, each repeated in rounds.
const (
	scenarioTCP       = "tcp-5424-200B-8conn"         // RFC 5424, 200 B, 8 TCP connections; the relay with its intake log
	scenarioTCPLogOff = "tcp-5424-200B-8conn-log-off" // the same, the relay with --intake-log off
	scenarioRELP      = "relp-5424-200B-8sess"        // RFC 5424, 200 B, 8 RELP sessions
)

// Issue 13's targets.
const (
	minTCPOverRsyslog    = 2.5       // the relay's TCP rate with the log on, over rsyslog's
	maxLogCPUSecondsPerM = 0.3       // CPU-s per million messages the log may add to log-off
	minRELPOverRsyslog   = 1.5       // the relay's RELP rate over rsyslog imrelp's
	maxPeakRSSBytes      = 256 << 20 // of the relay, in every load
)

// peakRSSTarget names the target on the relay's memory in the rows of WriteTargets.
const peakRSSTarget = "peak RSS of the relay"

// loadKey names a load of a round: a scenario against a receiver.
type loadKey struct{ scenario, receiver string }

// A pairTarget is a target whose figure, in each round, comes from two of its loads.
type pairTarget struct {
	name   string
	a, b   loadKey
	figure func(a, b *Result) float64
	from   func(a, b *Result) string // the figures of a and b the figure comes from
	format string                    // of the figure and the limit
	limit  float64
	// atLeast is whether the median must be at least limit; otherwise at most.
	atLeast bool
}

// pairTargets are issue 13's targets on pairs of loads: accepted/s is what the receiver's
// sockets took (over RELP, what it acknowledged), CPU-s/M its CPU per million delivered.
var pairTargets = []pairTarget{
	{
		name: "TCP 200 B x 8, log on / rsyslog, accepted/s",
		a:    loadKey{scenarioTCP, Kinesyslog}, b: loadKey{scenarioTCP, Rsyslog},
		figure: acceptedRatio, from: acceptedRates,
		format: "%.2fx", limit: minTCPOverRsyslog, atLeast: true,
	},
	{
		name: "TCP 200 B x 8, log on - log off, CPU-s/M",
		a:    loadKey{scenarioTCP, Kinesyslog}, b: loadKey{scenarioTCPLogOff, Kinesyslog},
		figure: func(a, b *Result) float64 { return a.CPUPerMillion() - b.CPUPerMillion() },
		from: func(a, b *Result) string {
			return fmt.Sprintf("%.2f - %.2f", a.CPUPerMillion(), b.CPUPerMillion())
		},
		format: "%+.2f", limit: maxLogCPUSecondsPerM,
	},
	{
		name: "RELP 200 B x 8 / rsyslog imrelp, accepted/s",
		a:    loadKey{scenarioRELP, Kinesyslog}, b: loadKey{scenarioRELP, Rsyslog},
		figure: acceptedRatio, from: acceptedRates,
		format: "%.2fx", limit: minRELPOverRsyslog, atLeast: true,
	},
}

// acceptedRatio is a's accepted/s over b's.
func acceptedRatio(a, b *Result) float64 { return ratio(a.AcceptedPerSecond(), b.AcceptedPerSecond()) }

// acceptedRates are the accepted/s acceptedRatio comes from.
func acceptedRates(a, b *Result) string {
	return rate(a.AcceptedPerSecond()) + " / " + rate(b.AcceptedPerSecond())
}

// A round is the loads of one round of a run, by scenario and receiver.
type round map[loadKey]*Result

// rounds groups the results of the targets' scenarios into rounds, in the order they first
// appear. A round is the results that share a Round number; when a scenario and receiver come
// again with a Round already seen, another run begins (several files, a file appended to by
// several runs, or files from before rounds, whose results all have Round 0).
func rounds(results []Result) []round {
	type id struct{ run, round int }
	var (
		order []id
		byID  = map[id]round{}
		run   int
	)
	for i := range results {
		r := &results[i]
		if r.Scenario != scenarioTCP && r.Scenario != scenarioTCPLogOff && r.Scenario != scenarioRELP {
			continue
		}
		k := loadKey{r.Scenario, r.Receiver}
		if rd, ok := byID[id{run, r.Round}]; ok && rd[k] != nil {
			run++
		}
		n := id{run, r.Round}
		if byID[n] == nil {
			byID[n] = round{}
			order = append(order, n)
		}
		byID[n][k] = r
	}
	out := make([]round, len(order))
	for i, n := range order {
		out[i] = byID[n]
	}
	return out
}

// usable is whether r measured what it was meant to: it ran and delivered every message once.
func usable(r *Result) bool { return r != nil && r.Error == "" && r.Report.OK() }

// An outcome is a target measured on the rounds of a run.
type outcome struct {
	name   string
	rounds []row    // one for each round, in order
	value  *float64 // the median of the rounds' figures, or the highest peak RSS; nil: none
	met    bool
	total  row // the value against the target
}

// A row is a line of WriteTargets' table: a round's figure or a target's value.
type row struct{ round, figure, from, steal string }

// evaluate measures the targets on the rounds of results.
func evaluate(results []Result) []outcome {
	rds := rounds(results)
	outs := make([]outcome, 0, len(pairTargets)+1)
	for _, t := range pairTargets {
		o := outcome{name: t.name}
		var figures []float64
		for i, rd := range rds {
			a, b := rd[t.a], rd[t.b]
			r := row{round: fmt.Sprint(i + 1), figure: "-"}
			switch {
			case a == nil || b == nil:
				r.from = "not run"
			case !usable(a) || !usable(b):
				r.from, r.steal = "failed", steal(a)+" / "+steal(b)
			default:
				f := t.figure(a, b)
				figures = append(figures, f)
				r.figure, r.from, r.steal = fmt.Sprintf(t.format, f), t.from(a, b), steal(a)+" / "+steal(b)
			}
			o.rounds = append(o.rounds, r)
		}
		want := fmt.Sprintf("target <= "+t.format, t.limit)
		if t.atLeast {
			want = fmt.Sprintf("target >= "+t.format, t.limit)
		}
		o.total = row{round: "median", figure: "-", from: want + ": not measured"}
		if len(figures) > 0 {
			m := median(figures)
			o.value, o.met = &m, m <= t.limit
			if t.atLeast {
				o.met = m >= t.limit
			}
			o.total.figure, o.total.from = fmt.Sprintf(t.format, m), want+": "+metOrNot(o.met)
		}
		outs = append(outs, o)
	}
	return append(outs, peakRSS(rds, results))
}

// peakRSS measures the relay's peak RSS in each round, and its highest in every load of
// results, round or not, against the target.
func peakRSS(rds []round, results []Result) outcome {
	o := outcome{name: peakRSSTarget}
	for i, rd := range rds {
		r := row{round: fmt.Sprint(i + 1), figure: "-", from: "not run"}
		if top := highestRSS(maps.Values(rd)); top != nil {
			r.figure, r.from, r.steal = mebibytes(top.PeakRSSBytes), top.Scenario, steal(top)
		}
		o.rounds = append(o.rounds, r)
	}
	top := highestRSS(func(yield func(*Result) bool) {
		for i := range results {
			if !yield(&results[i]) {
				return
			}
		}
	})
	want := "target < " + mebibytes(maxPeakRSSBytes)
	o.total = row{round: "every load", figure: "-", from: want + ": not measured"}
	if top != nil {
		v := float64(top.PeakRSSBytes)
		o.value, o.met = &v, top.PeakRSSBytes < maxPeakRSSBytes
		o.total.figure = mebibytes(top.PeakRSSBytes)
		o.total.from = fmt.Sprintf("%s: %s (%s)", want, metOrNot(o.met), top.Scenario)
	}
	return o
}

// WriteTargets prints issue 13's targets, measured on the rounds of the results (see rounds):
// for each target, every round's figure with the figures it comes from and the steal of the
// machine while each of its loads ran, then the median of the rounds' figures against the
// target. The figure of a round comes from two loads run one after the other, so that both see
// the same machine as nearly as can be; the median of the rounds' figures, not the figure of the
// rounds' median rates, keeps that pairing and sets aside a round the host disturbed. A round
// whose load failed or lost a message gives no figure. The peak RSS is the relay's highest over
// every load of the results, round or not. WriteTargets prints nothing when the results hold
// none of the targets' scenarios.
func WriteTargets(w io.Writer, results []Result) error {
	outs := evaluate(results)
	if len(outs[0].rounds) == 0 {
		return nil
	}
	n, rounds := len(outs[0].rounds), "rounds"
	if n == 1 {
		rounds = "round"
	}
	fmt.Fprintf(w, "Issue 13's targets over %d %s, met by the median of the rounds' figures\n", n, rounds)
	fmt.Fprintln(w, "(a round's figure comes from two of its loads, run one after the other; steal: the host's share of the machine while each ran)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tround\tfigure\tsteal\tfrom")
	met := 0
	for _, o := range outs {
		for i, r := range append(o.rounds, o.total) {
			name := ""
			if i == 0 {
				name = o.name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, r.round, r.figure, r.steal, r.from)
		}
		if o.met {
			met++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d of %d targets met\n", met, len(outs))
	return err
}

// highestRSS returns the relay's load of rs with the highest peak RSS, nil if there is none;
// of equal peaks, the first scenario by name.
func highestRSS(rs iter.Seq[*Result]) *Result {
	var top *Result
	for r := range rs {
		if r.Receiver != Kinesyslog || r.PeakRSSBytes == 0 {
			continue
		}
		if top == nil || r.PeakRSSBytes > top.PeakRSSBytes || r.PeakRSSBytes == top.PeakRSSBytes && r.Scenario < top.Scenario {
			top = r
		}
	}
	return top
}

// rate formats messages a second, rounded, with thousands separators.
func rate(perSecond float64) string { return group(int64(math.Round(perSecond))) }

func mebibytes(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// median returns the middle of vs, or the mean of the two middle ones; vs is not empty.
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
