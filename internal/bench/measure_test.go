package bench

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// smallLoad is a load that checks the tools, not the receivers: UDP goes at a rate any receiver
// takes (bench/run measures how far each goes).
func smallLoad(network string) Load {
	rate := 50_000
	if network == UDP {
		rate = 10_000
	}
	return Load{
		Network: network, Framing: OctetCounting, Streams: 4, Count: 20_000, Rate: rate,
		Generator: Generator{Run: 3, Format: RFC5424, MinBytes: 100, MaxBytes: 2048, Base: time.Now().Truncate(time.Second)},
	}
}

// TestMeasure runs small loads against the real receivers, as bench/run does with large ones.
func TestMeasure(t *testing.T) {
	tests := []struct {
		name     string
		receiver func(t *testing.T) *Receiver
		network  string
	}{
		{name: "kinesyslog tcp", receiver: relayReceiver(KinesyslogOptions{}), network: TCP},
		{name: "kinesyslog tcp, intake log off", receiver: relayReceiver(KinesyslogOptions{IntakeLog: "off"}), network: TCP},
		{name: "kinesyslog udp", receiver: relayReceiver(KinesyslogOptions{}), network: UDP},
		{name: "kinesyslog tls", receiver: relayReceiver(KinesyslogOptions{TLS: true}), network: TLS},
		{name: "kinesyslog relp", receiver: relayReceiver(KinesyslogOptions{RELP: true}), network: RELP},
		{name: "rsyslog tcp", receiver: rsyslogReceiver(RsyslogOptions{}), network: TCP},
		{name: "rsyslog udp", receiver: rsyslogReceiver(RsyslogOptions{}), network: UDP},
		{name: "rsyslog relp", receiver: rsyslogReceiver(RsyslogOptions{RELP: true}), network: RELP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := tt.receiver(t)
			res, err := Measure(context.Background(), tt.name, rcv, smallLoad(tt.network))
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			// UDP may drop when other work holds the CPUs for a moment; TCP and TLS must not.
			r, allowedLoss := res.Report, 0
			if tt.network == UDP {
				allowedLoss = r.Expected / 10
			}
			if r.Lost > allowedLoss || r.Duplicated+r.Corrupt+r.Foreign > 0 {
				t.Errorf("delivered: %v", r)
			}
			if res.Sent != 20_000 || res.CPUSeconds <= 0 || res.PeakRSSBytes <= 0 || res.TotalSeconds < res.SendSeconds/2 {
				t.Errorf("result %+v: want 20000 sent, CPU time, peak RSS and durations", res)
			}
			if m := res.Machine; runtime.GOOS == "linux" && (m == nil || m.IdlePercent+m.StealPercent > 100) {
				t.Errorf("machine CPU %+v: want the shares of the load's time", m)
			}
			if rcv.Name == Kinesyslog && (res.Output.Records == 0 || res.Output.Oversize > 0) {
				t.Errorf("records %+v: want some, none oversize", res.Output)
			}
		})
	}
}

// relayReceiver returns the relay with opts, Binary and WorkDir filled in.
func relayReceiver(opts KinesyslogOptions) func(t *testing.T) *Receiver {
	return func(t *testing.T) *Receiver {
		opts.Binary, opts.WorkDir = e2e.Binary(t), t.TempDir()
		rcv, err := NewKinesyslog(opts)
		if err != nil {
			t.Fatal(err)
		}
		return rcv
	}
}

// rsyslogReceiver returns rsyslogd with opts, Binary and WorkDir filled in.
func rsyslogReceiver(opts RsyslogOptions) func(t *testing.T) *Receiver {
	return func(t *testing.T) *Receiver {
		opts.Binary, opts.WorkDir = e2e.Program(t, "rsyslogd"), t.TempDir()
		if opts.RELP {
			e2e.RsyslogModule(t, "imrelp")
		}
		rcv, err := NewRsyslog(opts)
		if err != nil {
			t.Fatal(err)
		}
		return rcv
	}
}

func TestMeasureReceiverFails(t *testing.T) {
	dir := t.TempDir()
	rcv, err := NewKinesyslog(KinesyslogOptions{Binary: e2e.Binary(t), WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A spool directory that is a file: the relay says why and exits at start.
	if err := os.WriteFile(filepath.Join(dir, "spool"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Measure(context.Background(), "broken", rcv, smallLoad(TCP))
	if err == nil || res.Error == "" || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("Measure = %v (result error %q), want the relay's start failure", err, res.Error)
	}
}

func TestWriteTable(t *testing.T) {
	results := []Result{
		{
			Scenario: "tcp", Receiver: Kinesyslog, Round: 1, Sent: 5_000_000, SendSeconds: 8, TotalSeconds: 9.5,
			CPUSeconds: 10, GeneratorCPUSeconds: 2, PeakRSSBytes: 120 << 20, LoadAverage: 0.52,
			Machine: &MachineCPU{StealPercent: 12.34, IdlePercent: 3},
			Report:  Report{Expected: 5_000_000, Delivered: 5_000_000},
			Output:  RecordStats{Records: 300, Bytes: 297_000_000, MaxBytes: 999_990, RawBytes: 1_500_000_000},
		},
		{
			Scenario: "tcp", Receiver: Rsyslog, Round: 1, Sent: 5_000_000, SendSeconds: 12, TotalSeconds: 13,
			CPUSeconds: 20, PeakRSSBytes: 50 << 20, LoadAverage: 0.61,
			Machine: &MachineCPU{StealPercent: 0.5, IdlePercent: 40},
			Report:  Report{Expected: 5_000_000, Delivered: 4_999_000, Lost: 1000},
			Output:  RecordStats{Bytes: 250_000_000, RawBytes: 1_400_000_000},
		},
		{
			Scenario: "firehose-3-streams", Receiver: Kinesyslog, Sent: 1_600_000, SendSeconds: 2.5,
			DrainedSeconds: 25, TotalSeconds: 25.5, CPUSeconds: 4, PeakRSSBytes: 150 << 20, LoadAverage: 1.5,
			Report:  Report{Expected: 1_600_000, Delivered: 1_600_000},
			Output:  RecordStats{Records: 80, Bytes: 78_643_200, MaxBytes: 999_990, RawBytes: 480_000_000},
			Streams: &StreamStats{Streams: 3, QuotaBytesPerSecond: 1 << 20, StoredBytes: 78_643_200, Calls: 400, ThrottledCalls: 22},
		},
		{Scenario: "tls", Receiver: Kinesyslog, Error: "bench: kinesyslog exited at start\nmore"},
		{Scenario: "soak", Receiver: Kinesyslog, Sent: 1, RSSSamples: rampThenFlat(150)},
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, results); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "table.golden"), "WriteTable", buf.Bytes())
}

// checkGolden compares what fn printed with the golden file at path, which -update rewrites.
func checkGolden(t *testing.T, path, fn string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", fn, diff)
	}
}

// rampThenFlat returns n resident set samples that grow for a minute, then stay at 100 MiB.
func rampThenFlat(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(min(i, 60)*100/60) << 20
	}
	return s
}

func TestResultsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	want := []Result{{Scenario: "a", Receiver: Kinesyslog, Sent: 1}, {Scenario: "b", Receiver: Rsyslog, RSSSamples: []int64{1, 2}}}
	for _, r := range want {
		if err := AppendResult(path, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadResults (-want +got):\n%s", diff)
	}
}
