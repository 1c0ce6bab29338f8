package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		file    string // in testdata/procstat
		want    cpuTimes
		wantErr bool
	}{
		// This machine's: a VM of 2 CPUs whose host steals time.
		{file: "linux-6.18-2cpu", want: cpuTimes{total: 10_797_849, idle: 7_207_372, steal: 70_661}},
		// guest and guest_nice are already in user and nice: not counted twice.
		{file: "host-running-guests", want: cpuTimes{total: 60_378_104, idle: 46_845_166, steal: 175}},
		{file: "linux-2.6.11", want: cpuTimes{total: 6441, idle: 5040, steal: 70}},
		{file: "linux-2.6.10-no-steal", wantErr: true},
		{file: "no-cpu-line", wantErr: true},
		{file: "bad-column", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "procstat", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseProcStat(b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcStat(%s) error %v, want error %v", tt.file, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseProcStat(%s) = %+v, want %+v", tt.file, got, tt.want)
			}
		})
	}
}

func TestCPUTimesSince(t *testing.T) {
	start := cpuTimes{total: 10_000, idle: 4_000, steal: 100}
	tests := []struct {
		name string
		end  cpuTimes
		want *MachineCPU
	}{
		{name: "a quarter stolen", end: cpuTimes{total: 10_200, idle: 4_010, steal: 150}, want: &MachineCPU{StealPercent: 25, IdlePercent: 5}},
		{name: "idle, nothing stolen", end: cpuTimes{total: 10_400, idle: 4_400, steal: 100}, want: &MachineCPU{StealPercent: 0, IdlePercent: 100}},
		{name: "no time passed", end: start},
		{name: "counts went back", end: cpuTimes{total: 10_200, idle: 3_000, steal: 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.end.since(start)); diff != "" {
				t.Errorf("%+v.since(%+v) (-want +got):\n%s", tt.end, start, diff)
			}
		})
	}
}
