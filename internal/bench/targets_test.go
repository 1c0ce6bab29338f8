package bench

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundLoad returns a result of a million messages taken at accepted a second, at cpuPerM CPU
// seconds per million, with a peak RSS of rssMiB and the host's steal at stealPercent.
func roundLoad(scenario, receiver string, round int, accepted, cpuPerM float64, rssMiB int64, stealPercent float64) Result {
	const n = 1_000_000
	return Result{
		Scenario: scenario, Receiver: receiver, Round: round, Sent: n, SendSeconds: n / accepted,
		CPUSeconds: cpuPerM, PeakRSSBytes: rssMiB << 20, Machine: &MachineCPU{StealPercent: stealPercent, IdlePercent: 10},
		Report: Report{Expected: n, Delivered: n},
	}
}

// fullRound returns the five loads of a round of bench/run, in its order, the relay's TCP rate
// with the log on being tcpOn and its steal stealOn.
func fullRound(round int, tcpOn, stealOn float64) []Result {
	return []Result{
		roundLoad(scenarioTCP, Kinesyslog, round, tcpOn, 2.00, 200, stealOn),
		roundLoad(scenarioTCP, Rsyslog, round, 280_000, 4.00, 55, 0.5),
		roundLoad(scenarioTCPLogOff, Kinesyslog, round, 850_000, 1.75+0.05*float64(round), 160, 3),
		roundLoad(scenarioRELP, Kinesyslog, round, 140_000, 5.5, 100, 2),
		roundLoad(scenarioRELP, Rsyslog, round, 90_000, 11.5, 17, 1),
	}
}

func TestTargets(t *testing.T) {
	lossy := fullRound(2, 760_000, 1.5)
	lossy[1].Report.Lost, lossy[1].Report.Delivered = 10, 999_990
	failed := roundLoad(scenarioRELP, Kinesyslog, 0, 0, 0, 0, 0)
	failed.Error = "bench: kinesyslog exited at start"
	once := []Result{
		{Scenario: "tls-5424-200B-8conn", Receiver: Kinesyslog, PeakRSSBytes: 230 << 20},
		{Scenario: "udp-5424-200B-300000/s", Receiver: Rsyslog, PeakRSSBytes: 300 << 20},
	}
	tests := []struct {
		name    string
		results []Result
		// values are the targets' medians in order, then the highest peak RSS in MiB; NaN
		// where a target was not measured.
		values []float64
		met    []bool
	}{
		{
			name:    "three-rounds",
			results: slices.Concat(fullRound(1, 760_000, 1.5), fullRound(2, 560_000, 41.2), fullRound(3, 710_000, 0.8), once),
			values:  []float64{710_000.0 / 280_000, 0.15, 140.0 / 90, 230},
			met:     []bool{true, true, true, true},
		},
		{
			name:    "a-round-lost-messages",
			results: slices.Concat(fullRound(1, 780_000, 1.5), lossy, fullRound(3, 700_000, 0.8)),
			values:  []float64{(780_000.0/280_000 + 700_000.0/280_000) / 2, 0.15, 140.0 / 90, 200},
			met:     []bool{true, true, true, true},
		},
		{
			name:    "two-runs-in-one-file",
			results: slices.Concat(fullRound(1, 600_000, 1.5), fullRound(2, 620_000, 2), fullRound(1, 740_000, 1.5), fullRound(2, 750_000, 2)),
			values:  []float64{(620_000.0/280_000 + 740_000.0/280_000) / 2, (0.20 + 0.15) / 2, 140.0 / 90, 200},
			met:     []bool{false, true, true, true},
		},
		{
			name: "before-rounds",
			results: []Result{
				roundLoad(scenarioTCP, Kinesyslog, 0, 653_177, 2.08, 171, 0),
				roundLoad(scenarioTCP, Rsyslog, 0, 249_132, 4.10, 53, 0),
				roundLoad(scenarioTCPLogOff, Kinesyslog, 0, 941_000, 1.58, 163, 0),
				failed,
				roundLoad(scenarioRELP, Rsyslog, 0, 86_654, 12.1, 16, 0),
			},
			values: []float64{653_177.0 / 249_132, 0.50, nan, 171},
			met:    []bool{true, false, false, true},
		},
		{
			name: "relay-alone-past-memory-target",
			results: []Result{
				roundLoad(scenarioTCP, Kinesyslog, 1, 700_000, 2.0, 262, 5),
				roundLoad(scenarioTCPLogOff, Kinesyslog, 1, 850_000, 1.8, 170, 6),
			},
			values: []float64{nan, 0.20, nan, 262},
			met:    []bool{false, true, false, false},
		},
		{
			name:    "no-target-loads",
			results: once,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs := evaluate(tt.results)
			if len(outs[0].rounds) > 0 {
				var values []float64
				var met []bool
				for _, o := range outs {
					v := nan
					if o.value != nil {
						v = *o.value
					}
					values, met = append(values, v), append(met, o.met)
				}
				values[len(values)-1] /= 1 << 20
				if diff := cmp.Diff(tt.values, values, cmp.Comparer(closeEnough)); diff != "" {
					t.Errorf("evaluate: values (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.met, met); diff != "" {
					t.Errorf("evaluate: met (-want +got):\n%s", diff)
				}
			}
			var buf bytes.Buffer
			if err := WriteTargets(&buf, tt.results); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "targets", tt.name+".golden"), "WriteTargets", buf.Bytes())
		})
	}
}

var nan = math.NaN()

// closeEnough compares figures to the precision they are printed with; NaN equals NaN.
func closeEnough(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}
