package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// clockTicksPerSecond is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on every
	// Linux architecture Go supports.
	clockTicksPerSecond = 100
	// logTailBytes is how much of a receiver's output is kept for error messages.
	logTailBytes = 64 << 10
	// rssSampleEvery is how often the resident set size is sampled while a receiver runs.
	rssSampleEvery = time.Second
	// readyPollEvery is how often a starting receiver's port is tried.
	readyPollEvery = 20 * time.Millisecond
	// idlePollEvery, idleWindow and idleCPU define a receiver at rest: it used no more than
	// idleCPU (one clock tick, the resolution of the figure) over idleWindow.
	idlePollEvery = 50 * time.Millisecond
	idleWindow    = 300 * time.Millisecond
	idleCPU       = time.Second / clockTicksPerSecond
	// drainPollEvery is how often a receiver is asked whether it has delivered everything;
	// drainStall is how long what it holds may stay the same before it counts as stuck.
	drainPollEvery = 100 * time.Millisecond
	drainStall     = time.Minute
)

// A Process is a receiver under measurement: a child process whose CPU time and memory are read
// from the kernel, so that the figures are the receiver's alone whatever else runs on the machine.
type Process struct {
	cmd      *exec.Cmd
	out      tail
	exited   chan struct{}
	waitErr  error
	startCPU time.Duration
	// startMachine is the machine's CPU times at MarkStart; nil where they cannot be read.
	startMachine *cpuTimes

	mu      sync.Mutex
	samples []int64 // resident set size in bytes, every rssSampleEvery
}

// Usage is what a receiver consumed between MarkStart and its exit.
type Usage struct {
	CPU        time.Duration // user plus system time of every thread
	PeakRSS    int64         // bytes: the high-water mark of the resident set over the whole life
	RSSSamples []int64       // bytes: the resident set every second from start
	// Machine is how the machine's CPUs spent the same window as CPU; nil where the kernel
	// does not tell (anywhere but Linux).
	Machine *MachineCPU
}

// StartProcess starts argv with env added to this process's environment.
func StartProcess(argv, env []string) (*Process, error) {
	p := &Process{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", argv[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	go p.sampleRSS()
	return p, nil
}

func (p *Process) sampleRSS() {
	tick := time.NewTicker(rssSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			return
		case <-tick.C:
			if rss, err := procStatusBytes(p.cmd.Process.Pid, "VmRSS:"); err == nil {
				p.mu.Lock()
				p.samples = append(p.samples, rss)
				p.mu.Unlock()
			}
		}
	}
}

// Log returns the end of what the process wrote to stdout and stderr.
func (p *Process) Log() string { return p.out.String() }

// WaitListening waits until address accepts TCP connections. It fails when the process exits
// first, with its output, or when ctx is done.
func (p *Process) WaitListening(ctx context.Context, address string) error {
	for {
		c, err := net.DialTimeout("tcp", address, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("bench: %s exited at start (%v):\n%s", p.cmd.Path, p.waitErr, p.Log())
		case <-ctx.Done():
			return fmt.Errorf("bench: %s does not listen on %s: %w\n%s", p.cmd.Path, address, ctx.Err(), p.Log())
		case <-time.After(readyPollEvery):
		}
	}
}

// MarkStart notes the CPU time used so far, so that Usage counts only what comes after: the
// load, not the start. It notes the machine's CPU times too, for Usage.Machine.
func (p *Process) MarkStart() error {
	cpu, err := procCPU(p.cmd.Process.Pid)
	p.startCPU = cpu
	if m, merr := readCPUTimes(); merr == nil {
		p.startMachine = &m
	}
	return err
}

// WaitIdle waits until the process has been at rest for a while, and returns when its last burst
// of work ended: once a receiver is idle after its start, it serves; once it is idle after a
// load, it has read everything its sockets held and processed it as far as it does without
// being stopped.
func (p *Process) WaitIdle(ctx context.Context) (time.Time, error) {
	pid := p.cmd.Process.Pid
	busy := time.Now()
	cpu, err := procCPU(pid)
	if err != nil {
		return busy, err
	}
	tick := time.NewTicker(idlePollEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			return busy, fmt.Errorf("bench: %s exited (%v):\n%s", p.cmd.Path, p.waitErr, p.Log())
		case <-ctx.Done():
			return busy, ctx.Err()
		case now := <-tick.C:
			c, err := procCPU(pid)
			if err != nil {
				return busy, err
			}
			if c-cpu > idleCPU {
				busy, cpu = now, c
			} else if now.Sub(busy) >= idleWindow {
				return busy, nil
			}
		}
	}
}

// WaitDrained waits until drained returns nil at two polls in a row, and returns the time of the
// first (on failure, the time it gave up): a receiver's counters are read one after another, not at one instant, and a second read
// confirms that no record was on its way between two of them. It fails when the process exits,
// when ctx is done, or when drained's error stays the same for drainStall: the receiver holds
// something it makes no progress with.
func (p *Process) WaitDrained(ctx context.Context, drained func(context.Context) error) (time.Time, error) {
	tick := time.NewTicker(drainPollEvery)
	defer tick.Stop()
	var first time.Time
	last, changed := "", time.Now()
	for {
		select {
		case <-p.exited:
			return time.Now(), fmt.Errorf("bench: %s exited (%v):\n%s", p.cmd.Path, p.waitErr, p.Log())
		case <-ctx.Done():
			return time.Now(), fmt.Errorf("bench: %s: %s: %w", p.cmd.Path, last, ctx.Err())
		case now := <-tick.C:
			err := drained(ctx)
			if err == nil && !first.IsZero() {
				return first, nil
			}
			if err == nil {
				first = now
				continue
			}
			first = time.Time{}
			if err.Error() != last {
				last, changed = err.Error(), now
			} else if now.Sub(changed) >= drainStall {
				return now, fmt.Errorf("bench: %s made no progress for %v: %w", p.cmd.Path, drainStall, err)
			}
		}
	}
}

// Stop sends SIGTERM, waits for the process to exit and returns what it used. A process that
// does not exit within timeout is killed, and Stop fails; so does one that exits non-zero.
func (p *Process) Stop(timeout time.Duration) (Usage, error) {
	var errs []error
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		errs = append(errs, fmt.Errorf("bench: signal %s: %w", p.cmd.Path, err))
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
		errs = append(errs, fmt.Errorf("bench: %s did not exit within %v of SIGTERM: killed", p.cmd.Path, timeout))
	}
	if p.waitErr != nil {
		errs = append(errs, fmt.Errorf("bench: %s: %w\n%s", p.cmd.Path, p.waitErr, p.Log()))
	}
	st := p.cmd.ProcessState
	u := Usage{CPU: st.UserTime() + st.SystemTime() - p.startCPU}
	if m, err := readCPUTimes(); err == nil && p.startMachine != nil {
		u.Machine = m.since(*p.startMachine)
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.PeakRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	p.mu.Lock()
	u.RSSSamples = p.samples
	p.mu.Unlock()
	return u, errors.Join(errs...)
}

// procCPU returns the user plus system time pid has used, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: read CPU time: %w", err)
	}
	// The command name in parentheses may hold spaces: the fields counted from 3 follow the
	// last ')'. utime and stime are fields 14 and 15 (proc(5)).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: read CPU time: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: read CPU time: unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: read CPU time: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicksPerSecond, nil
}

// procStatusBytes returns a "kB" field of /proc/PID/status, such as "VmRSS:", in bytes.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("bench: no %s in /proc/%d/status", field, pid)
}

// LoadAverage returns the 1-minute load average of the machine.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// tail keeps the last logTailBytes written to it; it is safe for concurrent use.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - logTailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
