package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinesyslog/kinesyslog/internal/firehose"
)

// WriteTable prints results as a table, one row per result in order (steal is the share of all
// CPUs the host took while the load ran, see MachineCPU); for every load through
// quota-limited streams, what they took; and for every scenario run against both the relay and
// rsyslog, the ratios between them.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treceiver\tround\tsent\taccepted/s\tdelivered/s\tCPU s/M msgs\tpeak RSS\trecords\tmean record\tmax record\tratio\tlost\tdup\tMiB/s (quotas)\tthrottled\tgen CPU s/M\tload avg\tsteal\t")
	for i := range results {
		r := &results[i]
		records, mean, maxRecord := "-", "-", "-"
		if r.Output.Records > 0 {
			records = group(int64(r.Output.Records))
			mean = fmt.Sprintf("%s (%.1f%%)", group(int64(r.Output.MeanBytes())), 100*r.Output.MeanBytes()/firehose.MaxRecordBytes)
			maxRecord = group(int64(r.Output.MaxBytes))
		}
		streamRate, throttled := "-", "-"
		if r.Streams != nil {
			streamRate = fmt.Sprintf("%.2f (%.0f%%)", r.DeliveredBytesPerSecond()/(1<<20), 100*r.QuotaShare())
			throttled = fmt.Sprintf("%.1f%%", 100*r.ThrottledShare())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.0f MiB\t%s\t%s\t%s\t%.1fx\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n",
			r.Scenario, r.Receiver, roundName(r), group(int64(r.Sent)),
			group(int64(r.AcceptedPerSecond())), group(int64(r.DeliveredPerSecond())),
			r.CPUPerMillion(), float64(r.PeakRSSBytes)/(1<<20),
			records, mean, maxRecord, r.Output.Ratio(),
			lost(r.Report), group(int64(r.Report.Duplicated)), streamRate, throttled,
			perMillion(r.GeneratorCPUSeconds, r.Sent), r.LoadAverage, steal(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i := range results {
		r := &results[i]
		if r.Error != "" {
			first, _, _ := strings.Cut(r.Error, "\n")
			fmt.Fprintf(w, "%s %s failed: %s\n", r.Scenario, r.Receiver, first)
		}
		if !r.Report.OK() && r.Error == "" {
			fmt.Fprintf(w, "%s %s: %s\n", r.Scenario, r.Receiver, r.Report)
		}
	}
	for i := range results {
		r := &results[i]
		if r.Streams == nil {
			continue
		}
		check := "every message once"
		if !r.Report.OK() {
			check = r.Report.String()
		}
		st := r.Streams
		fmt.Fprintf(w, "%s %s: %.1f MiB of records in %.1f s through %d streams of %.2f MiB/s: %.2f MiB/s, %.0f%% of %.2f MiB/s; %s of %s calls throttled (%.1f%%); %s\n",
			r.Scenario, r.Receiver, float64(st.StoredBytes)/(1<<20), r.DrainedSeconds,
			st.Streams, float64(st.QuotaBytesPerSecond)/(1<<20), r.DeliveredBytesPerSecond()/(1<<20),
			100*r.QuotaShare(), float64(int64(st.Streams)*st.QuotaBytesPerSecond)/(1<<20),
			group(int64(st.ThrottledCalls)), group(int64(st.Calls)), 100*r.ThrottledShare(), check)
	}
	for _, pair := range comparisons(results) {
		k, rs := pair[0], pair[1]
		fmt.Fprintf(w, "%s%s: kinesyslog/rsyslog delivered msg/s %.2fx, CPU per message %.2fx, peak RSS %.2fx\n",
			k.Scenario, inRound(k), ratio(k.DeliveredPerSecond(), rs.DeliveredPerSecond()),
			ratio(k.CPUPerMillion(), rs.CPUPerMillion()),
			ratio(float64(k.PeakRSSBytes), float64(rs.PeakRSSBytes)))
	}
	for i := range results {
		if r := &results[i]; len(r.RSSSamples) >= 2*samplesPerMinute {
			fmt.Fprintf(w, "%s %s: resident set by minute: %s MiB\n", r.Scenario, r.Receiver, byMinute(r.RSSSamples))
		}
	}
	return nil
}

// samplesPerMinute is how many resident set samples a minute of a run takes.
const samplesPerMinute = int(time.Minute / rssSampleEvery)

// byMinute lists the resident set at the start of each minute of a run, and at its end.
func byMinute(samples []int64) string {
	var parts []string
	for i := 0; i < len(samples); i += samplesPerMinute {
		parts = append(parts, fmt.Sprint(samples[i]>>20))
	}
	parts = append(parts, fmt.Sprint(samples[len(samples)-1]>>20))
	return strings.Join(parts, " ")
}

// comparisons pairs the relay's result of each scenario with rsyslog's of the same round.
func comparisons(results []Result) [][2]*Result {
	var pairs [][2]*Result
	for i := range results {
		if results[i].Receiver != Kinesyslog {
			continue
		}
		for j := range results {
			if results[j].Receiver == Rsyslog && results[j].Scenario == results[i].Scenario && results[j].Round == results[i].Round {
				pairs = append(pairs, [2]*Result{&results[i], &results[j]})
				break
			}
		}
	}
	return pairs
}

func perMillion(seconds float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return seconds / float64(n) * 1e6
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// roundName is r's round in the table, "-" for a load run once.
func roundName(r *Result) string {
	if r.Round == 0 {
		return "-"
	}
	return fmt.Sprint(r.Round)
}

// inRound says which round r is of, if any, after its scenario's name.
func inRound(r *Result) string {
	if r.Round == 0 {
		return ""
	}
	return fmt.Sprintf(" (round %d)", r.Round)
}

// steal is the share of the machine the host took while r's load ran, "-" where unknown.
func steal(r *Result) string {
	if r.Machine == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", r.Machine.StealPercent)
}

func lost(r Report) string {
	if r.Expected == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%.3f%%)", group(int64(r.Lost)), 100*float64(r.Lost)/float64(r.Expected))
}

// group formats n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
