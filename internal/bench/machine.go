package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat is the kernel's account of the machine's CPU time (proc(5)).
const procStat = "/proc/stat"

// MachineCPU is how the machine's CPUs spent a window of time, as shares of all of them: what
// the receiver, the generator and everything else ran on. A virtual machine's host may run
// other guests on its cores: the time a CPU of this machine had work but the host did not run it
// is stolen (the steal column of /proc/stat), and a receiver that needs both cores loses rate to
// it while one that uses a single core hardly does.
type MachineCPU struct {
	// StealPercent is the time the host ran something else while this machine's CPUs had
	// work, in per cent of all CPUs' time.
	StealPercent float64 `json:"steal_percent"`
	// IdlePercent is the time the CPUs had nothing to run (idle and iowait), in per cent of
	// all CPUs' time.
	IdlePercent float64 `json:"idle_percent"`
}

// cpuTimes is the "cpu" line of /proc/stat: the time of all CPUs together since boot, in clock
// ticks.
type cpuTimes struct {
	total int64 // every state but guest and guest_nice, which user and nice already hold
	idle  int64 // idle and iowait
	steal int64
}

// readCPUTimes reads the machine's CPU times; it fails where there is no /proc/stat, as
// anywhere but Linux.
func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile(procStat)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("bench: read machine CPU time: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat returns the times of the "cpu" line of b, the content of /proc/stat: user,
// nice, system, idle, iowait, irq, softirq, steal, then guest and guest_nice (proc(5)); it
// needs steal, which Linux has had since 2.6.11.
func parseProcStat(b []byte) (cpuTimes, error) {
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		const user, nice, system, idle, iowait, irq, softirq, steal = 1, 2, 3, 4, 5, 6, 7, 8
		if len(f) <= steal {
			return cpuTimes{}, fmt.Errorf("bench: /proc/stat: %d columns on the cpu line, want %d or more", len(f)-1, steal)
		}
		var v [steal + 1]int64
		for i := user; i <= steal; i++ {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil || n < 0 {
				return cpuTimes{}, fmt.Errorf("bench: /proc/stat: column %d of the cpu line is %q, want a count of ticks", i, f[i])
			}
			v[i] = n
		}
		t := cpuTimes{idle: v[idle] + v[iowait], steal: v[steal]}
		for _, n := range v[user:] {
			t.total += n
		}
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("bench: /proc/stat: no cpu line")
}

// since returns how the CPUs spent the time from start to t; nil when no time passed or the
// counts went back.
func (t cpuTimes) since(start cpuTimes) *MachineCPU {
	total, idle, steal := t.total-start.total, t.idle-start.idle, t.steal-start.steal
	if total <= 0 || idle < 0 || steal < 0 {
		return nil
	}
	return &MachineCPU{
		StealPercent: 100 * float64(steal) / float64(total),
		IdlePercent:  100 * float64(idle) / float64(total),
	}
}
