package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

const (
	// startTimeout bounds how long a receiver may take to listen.
	startTimeout = 30 * time.Second
	// stopTimeout bounds how long a receiver may take to write what it holds and exit, and how
	// long it may take to come to rest after the load.
	stopTimeout = 10 * time.Minute
)

// Result is one load measured against one receiver: a row of the table.
type Result struct {
	Scenario    string  `json:"scenario"`
	Receiver    string  `json:"receiver"`
	Round       int     `json:"round,omitempty"` // of a load repeated in rounds, from 1 (see Targets); 0: run once
	Load        string  `json:"load"`            // the load in words
	LoadAverage float64 `json:"load_average"`    // 1-minute load average of the machine at the start
	Sent        int     `json:"sent"`
	SentBytes   int64   `json:"sent_bytes"`
	// SendSeconds runs from the first connection to the last write. DrainedSeconds runs from
	// the first connection until the receiver had delivered everything it received, by its own
	// account (Receiver.Drained), or, for a receiver that cannot tell, until it came to rest.
	// TotalSeconds is the time to deliver everything: DrainedSeconds plus the time the receiver
	// then took from SIGTERM to write what it still held and exit (see Measure).
	SendSeconds    float64 `json:"send_seconds"`
	DrainedSeconds float64 `json:"drained_seconds"`
	TotalSeconds   float64 `json:"total_seconds"`
	// CPUSeconds is the receiver's user plus system time from the start of the load to its exit.
	CPUSeconds float64 `json:"cpu_seconds"`
	// GeneratorCPUSeconds is this process's user plus system time while it sent the load: the
	// part of the machine the receiver did not have.
	GeneratorCPUSeconds float64 `json:"generator_cpu_seconds"`
	PeakRSSBytes        int64   `json:"peak_rss_bytes"`
	RSSSamples          []int64 `json:"rss_samples,omitempty"`
	// Machine is how the machine's CPUs spent the time of CPUSeconds: stolen by the host, idle;
	// absent where the kernel does not tell (anywhere but Linux).
	Machine *MachineCPU `json:"machine,omitempty"`
	Report  Report      `json:"report"`
	Output  RecordStats `json:"output"`
	// Streams is what quota-limited delivery streams took, for a load through them; nil for
	// others.
	Streams *StreamStats `json:"streams,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// StreamStats is what the destination saw of a load through quota-limited delivery streams.
type StreamStats struct {
	Streams             int   `json:"streams"`
	QuotaBytesPerSecond int64 `json:"quota_bytes_per_second"` // of each stream
	StoredBytes         int64 `json:"stored_bytes"`           // of the records stored, all streams
	Calls               int   `json:"calls"`                  // PutRecordBatch calls, all streams
	ThrottledCalls      int   `json:"throttled_calls"`        // refused in whole or part by a quota
}

// DeliveredBytesPerSecond is the rate at which the streams stored records, from the first
// message sent until the receiver had delivered everything; 0 without Streams.
func (r *Result) DeliveredBytesPerSecond() float64 {
	if r.Streams == nil || r.DrainedSeconds <= 0 {
		return 0
	}
	return float64(r.Streams.StoredBytes) / r.DrainedSeconds
}

// QuotaShare is DeliveredBytesPerSecond as a share of the sum of the streams' quotas.
func (r *Result) QuotaShare() float64 {
	if r.Streams == nil {
		return 0
	}
	return ratio(r.DeliveredBytesPerSecond(), float64(int64(r.Streams.Streams)*r.Streams.QuotaBytesPerSecond))
}

// ThrottledShare is the share of the streams' calls that a quota refused, in whole or part.
func (r *Result) ThrottledShare() float64 {
	if r.Streams == nil {
		return 0
	}
	return ratio(float64(r.Streams.ThrottledCalls), float64(r.Streams.Calls))
}

// AcceptedPerSecond is the rate at which the receiver took the messages from its sockets (for
// UDP: the rate they were sent at).
func (r *Result) AcceptedPerSecond() float64 { return perSecond(r.Sent, r.SendSeconds) }

// DeliveredPerSecond is the rate of messages delivered end to end: written to finished records
// or files, from the first message sent until the receiver had exited.
func (r *Result) DeliveredPerSecond() float64 { return perSecond(r.Report.Delivered, r.TotalSeconds) }

// CPUPerMillion is the receiver's CPU seconds per million messages delivered.
func (r *Result) CPUPerMillion() float64 {
	if r.Report.Delivered == 0 {
		return 0
	}
	return r.CPUSeconds / float64(r.Report.Delivered) * 1e6
}

func perSecond(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// Measure runs load against rcv: it starts the receiver, waits until it listens, sends the load,
// waits until the receiver has delivered everything (Receiver.Drained) or, when it cannot tell,
// is at rest, stops it with SIGTERM and checks what it delivered. The Result holds what could be
// measured even when Measure fails, with the error.
//
// Waiting before the signal lets each receiver finish the work it does while running: rsyslog
// stops reading its connections at SIGTERM and drops what their sockets still hold, and UDP
// datagrams in a socket buffer are read, not counted as lost. The relay may leave what its
// buffers hold in its intake log at SIGTERM, for the next start, and a relay waiting on
// throttled delivery streams uses no CPU while records wait in its spool: Measure waits until
// its metrics say that everything it received was delivered (at most stopTimeout, and failing
// once they show no progress for a minute), so that the delivery check holds whatever its
// shutdown does. The confirmation of a drain, and the idleWindow of rest, are not counted in
// DrainedSeconds or TotalSeconds.
func Measure(ctx context.Context, scenario string, rcv *Receiver, load Load) (Result, error) {
	res := Result{Scenario: scenario, Receiver: rcv.Name, Load: load.String()}
	err := measure(ctx, rcv, load, &res)
	if err != nil {
		res.Error = err.Error()
	}
	return res, err
}

func measure(ctx context.Context, rcv *Receiver, load Load, res *Result) error {
	load.Address = rcv.Address(load.Network)
	if load.Address == "" {
		return fmt.Errorf("bench: %s has no %s listener", rcv.Name, load.Network)
	}
	if err := load.Validate(); err != nil {
		return err
	}
	p, err := StartProcess(rcv.Argv, rcv.Env)
	if err != nil {
		return err
	}
	// Listening is not serving: a relay binds its sockets before it starts reading them, and
	// datagrams sent in between would be lost to the start, not to the load. Once the receiver
	// is at rest it has finished starting.
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	err = p.WaitListening(startCtx, rcv.TCP)
	if err == nil {
		_, err = p.WaitIdle(startCtx)
	}
	cancel()
	if err == nil {
		err = p.MarkStart()
	}
	if err != nil {
		_, stopErr := p.Stop(stopTimeout)
		return errors.Join(err, stopErr)
	}

	res.LoadAverage = LoadAverage()
	genCPU := SelfCPU()
	start := time.Now()
	sent, sendErr := Send(ctx, load)
	res.SendSeconds = time.Since(start).Seconds()
	res.GeneratorCPUSeconds = (SelfCPU() - genCPU).Seconds()
	idleCtx, cancel := context.WithTimeout(ctx, stopTimeout)
	var busy time.Time
	var idleErr error
	if rcv.Drained != nil {
		// Every message sent over a connection reaches the receiver; datagrams may not.
		want := sent.Total()
		if load.Network == UDP {
			want = 0
		}
		busy, idleErr = p.WaitDrained(idleCtx, func(ctx context.Context) error { return rcv.Drained(ctx, want) })
	} else {
		busy, idleErr = p.WaitIdle(idleCtx)
	}
	cancel()
	stopped := time.Now()
	usage, stopErr := p.Stop(stopTimeout)
	res.DrainedSeconds = busy.Sub(start).Seconds()
	res.TotalSeconds = res.DrainedSeconds + time.Since(stopped).Seconds()
	res.Sent, res.SentBytes = sent.Total(), sent.Bytes
	res.CPUSeconds = usage.CPU.Seconds()
	res.PeakRSSBytes = usage.PeakRSS
	res.RSSSamples = usage.RSSSamples
	res.Machine = usage.Machine

	v := NewVerifier(load.Generator, sent.Counts)
	var collectErr error
	if rcv.Collect != nil {
		res.Output, collectErr = rcv.Collect(v)
	}
	res.Report = v.Report()
	return errors.Join(sendErr, idleErr, stopErr, collectErr)
}

// SelfCPU returns the user plus system time this process has used, all threads: the work of
// the generator in a run, or of every stage in an in-process benchmark.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// String describes the load in words.
func (l *Load) String() string {
	size := fmt.Sprintf("%d B", l.Generator.MinBytes)
	if l.Generator.MaxBytes != l.Generator.MinBytes {
		size = fmt.Sprintf("%d-%d B", l.Generator.MinBytes, l.Generator.MaxBytes)
	}
	how, kind := l.Network, "connections"
	switch l.Network {
	case UDP:
		kind = "sockets"
	case RELP:
		kind = "sessions"
	default:
		how += " " + string(l.Framing)
	}
	amount := fmt.Sprintf("%d messages", l.Count)
	if l.Count == 0 {
		amount = l.Duration.String()
	}
	rate := "max rate"
	if l.Rate > 0 {
		rate = fmt.Sprintf("%d/s", l.Rate)
	}
	return fmt.Sprintf("%s %s, %s, %d %s, %s at %s", l.Generator.Format, size, how, l.Streams, kind, amount, rate)
}

// AppendResult appends res to the JSON-lines file at path.
func AppendResult(path string, res Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("bench: encode result: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("bench: results: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: results: %w", err)
	}
	return nil
}

// ReadResults reads the results of a JSON-lines file.
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: results: %w", err)
	}
	defer f.Close()
	var out []Result
	dec := json.NewDecoder(f)
	for dec.More() {
		var r Result
		if err := dec.Decode(&r); err != nil {
			return out, fmt.Errorf("bench: results %s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, nil
}
