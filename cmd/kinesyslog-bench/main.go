// Command kinesyslog-bench is the load generator and verifier of kinesyslog's benchmark.
//
// Usage:
//
//	kinesyslog-bench run [flags]                 measure a load against the relay or rsyslog
//	kinesyslog-bench send --address A [flags]    send a load to a running receiver
//	kinesyslog-bench verify --manifest F --output DIR | --rsyslog FILE
//	kinesyslog-bench table RESULTS...            print results as the table of BENCHMARKS.md, then the targets
//
// run starts the receiver itself, on loopback, measures its CPU time and peak memory, and checks
// that every message arrived exactly once; bench/run runs the standard loads with it. send and
// verify split the same work for a receiver run by hand: send writes a manifest of what it sent,
// which verify checks the receiver's output against. The command is thin: the work is package
// bench's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/bench"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a load failed, or messages were lost, duplicated or corrupted
	exitUsage   = 2 // the command was asked wrongly
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// failure marks an error of the work itself; every other error is a usage error.
type failure struct{ error }

func (f failure) Unwrap() error { return f.error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:               "kinesyslog-bench",
		Short:             "Load generator and verifier of kinesyslog's benchmark",
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(runCommand(), sendCommand(), verifyCommand(), tableCommand())
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(stderr, "kinesyslog-bench: %s\n", line)
	}
	if _, ok := errors.AsType[failure](err); ok {
		return exitFailure
	}
	return exitUsage
}

// loadFlags are the options that describe a load.
type loadFlags struct {
	network, framing, format, size string
	streams, count, rate           int
	duration                       time.Duration
	run                            uint32
}

func (f *loadFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.network, "network", bench.TCP, "send over tcp, udp, tls or relp")
	fl.StringVar(&f.framing, "framing", string(bench.OctetCounting), "framing of tcp and tls: octet (RFC6587 octet counting) or lf")
	fl.StringVar(&f.format, "format", string(bench.RFC5424), "message format: rfc5424 or rfc3164")
	fl.StringVar(&f.size, "size", "200", "message size in bytes, N or MIN-MAX (log-uniform)")
	fl.IntVar(&f.streams, "streams", 8, "connections (tcp, tls), sessions (relp) or sockets (udp) sending in parallel")
	fl.IntVar(&f.count, "count", 0, "messages to send over all streams (default: send for --duration)")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send when --count is 0")
	fl.IntVar(&f.rate, "rate", 0, "messages per second over all streams; 0 is as fast as possible")
	fl.Uint32Var(&f.run, "run", 0, "run number in every message's token (default: from the clock)")
}

func (f *loadFlags) load() (bench.Load, error) {
	minBytes, maxBytes, err := parseSize(f.size)
	if err != nil {
		return bench.Load{}, err
	}
	now := time.Now()
	run := f.run
	if run == 0 {
		run = uint32(now.Unix() % 1_000_000_000)
	}
	l := bench.Load{
		Network:  f.network,
		Framing:  bench.Framing(f.framing),
		Streams:  f.streams,
		Count:    f.count,
		Duration: f.duration,
		Rate:     f.rate,
		Generator: bench.Generator{
			Run:      run,
			Format:   bench.Format(f.format),
			MinBytes: minBytes,
			MaxBytes: maxBytes,
			Base:     now.Truncate(time.Second),
		},
	}
	if l.Count > 0 {
		l.Duration = 0
	}
	return l, l.Validate()
}

func parseSize(s string) (minBytes, maxBytes int, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	minBytes, err1 := strconv.Atoi(lo)
	maxBytes, err2 := minBytes, error(nil)
	if isRange {
		maxBytes, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--size %q: want N or MIN-MAX in bytes", s)
	}
	return minBytes, maxBytes, nil
}

func runCommand() *cobra.Command {
	var (
		lf                         loadFlags
		receiver, relay, rsyslogd  string
		intakeLog                  string
		scenario, results, workDir string
		round                      int
		keep                       bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Measure a load against the relay or rsyslog, run on loopback",
		Long: `run starts the receiver on free loopback ports, sends the load, stops the receiver with
SIGTERM, and reports the rates, the receiver's CPU time and peak memory, the records it made and
the messages lost, duplicated or corrupted. It exits 1 when the output is not exactly what was
sent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load, err := lf.load()
			if err != nil {
				return err
			}
			if scenario == "" {
				scenario = load.String()
			}
			dir, err := os.MkdirTemp(workDir, "kinesyslog-bench-")
			if err != nil {
				return failure{err}
			}
			if !keep {
				defer os.RemoveAll(dir)
			}
			var rcv *bench.Receiver
			switch receiver {
			case bench.Kinesyslog:
				rcv, err = bench.NewKinesyslog(bench.KinesyslogOptions{Binary: relay, WorkDir: dir,
					TLS: load.Network == bench.TLS, RELP: load.Network == bench.RELP, IntakeLog: intakeLog})
			case bench.Rsyslog:
				if load.Network == bench.TLS {
					return errors.New("run: rsyslog is measured over tcp, udp and relp only")
				}
				var path string
				if path, err = testenv.LookPath(rsyslogd); err == nil {
					rcv, err = bench.NewRsyslog(bench.RsyslogOptions{Binary: path, WorkDir: dir, RELP: load.Network == bench.RELP})
				}
			default:
				return fmt.Errorf("--receiver %q: want %s or %s", receiver, bench.Kinesyslog, bench.Rsyslog)
			}
			if err != nil {
				return failure{err}
			}
			res, err := bench.Measure(cmd.Context(), scenario, rcv, load)
			res.Round = round
			if results != "" {
				if werr := bench.AppendResult(results, res); werr != nil {
					err = errors.Join(err, werr)
				}
			}
			if terr := bench.WriteTable(cmd.OutOrStdout(), []bench.Result{res}); terr != nil {
				err = errors.Join(err, terr)
			}
			if err == nil && !res.Report.OK() {
				err = fmt.Errorf("delivery check failed: %s", res.Report)
			}
			if err != nil {
				return failure{err}
			}
			return nil
		},
	}
	lf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&receiver, "receiver", bench.Kinesyslog, "receiver to measure: kinesyslog or rsyslog")
	fl.StringVar(&relay, "relay", "kinesyslog", "kinesyslog binary")
	fl.StringVar(&rsyslogd, "rsyslogd", "rsyslogd", "rsyslogd binary")
	fl.StringVar(&intakeLog, "intake-log", "", "the relay's --intake-log, on or off (default: the relay's default)")
	fl.StringVar(&scenario, "scenario", "", "scenario name in the table (default: the load in words)")
	fl.IntVar(&round, "round", 0, "round number of a load repeated in rounds, from 1, in the result (0: run once)")
	fl.StringVar(&results, "results", "", "append the result to this JSON-lines FILE")
	fl.StringVar(&workDir, "work-dir", "", "directory for the receiver's files (default: the system temporary directory)")
	fl.BoolVar(&keep, "keep", false, "keep the receiver's files")
	return cmd
}

// manifest is what send writes and verify reads: what a run sent.
type manifest struct {
	Generator bench.Generator `json:"generator"`
	Counts    []int           `json:"counts"`
}

func sendCommand() *cobra.Command {
	var (
		lf                    loadFlags
		address, manifestPath string
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a load to a running receiver and write a manifest of what was sent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load, err := lf.load()
			if err != nil {
				return err
			}
			load.Address = address
			sent, sendErr := bench.Send(cmd.Context(), load)
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d messages (%d bytes) in %v: %.0f messages/s\n",
				sent.Total(), sent.Bytes, sent.Elapsed.Round(time.Millisecond), float64(sent.Total())/sent.Elapsed.Seconds())
			if err := writeManifest(manifestPath, load.Generator, sent.Counts); err != nil {
				sendErr = errors.Join(sendErr, err)
			}
			if sendErr != nil {
				return failure{sendErr}
			}
			return nil
		},
	}
	lf.register(cmd)
	cmd.Flags().StringVar(&address, "address", "127.0.0.1:514", "HOST:PORT of the receiver")
	cmd.Flags().StringVar(&manifestPath, "manifest", "bench-manifest.json", "FILE to write what was sent to, for verify")
	return cmd
}

func writeManifest(path string, gen bench.Generator, counts []int) error {
	b, err := json.MarshalIndent(manifest{Generator: gen, Counts: counts}, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

func verifyCommand() *cobra.Command {
	var manifestPath, output, rsyslogFile string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a receiver's output against the manifest send wrote",
		Long: `verify reads what a receiver delivered, the records of a kinesyslog --output directory or
the gzip file of JSON lines of the rsyslog configuration of run, and checks that every message the
manifest lists is there exactly once and intact. It exits 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (output == "") == (rsyslogFile == "") {
				return errors.New("give exactly one of --output and --rsyslog")
			}
			b, err := os.ReadFile(manifestPath)
			if err != nil {
				return failure{err}
			}
			var m manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return failure{fmt.Errorf("manifest %s: %w", manifestPath, err)}
			}
			v := bench.NewVerifier(m.Generator, m.Counts)
			if output != "" {
				st, err := v.RecordDir(output)
				if err != nil {
					return failure{err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d records, mean %.0f bytes, largest %d bytes, %d over the limit, ratio %.1f\n",
					st.Records, st.MeanBytes(), st.MaxBytes, st.Oversize, st.Ratio())
			} else {
				f, err := os.Open(rsyslogFile)
				if err != nil {
					return failure{err}
				}
				defer f.Close()
				if _, err := v.Lines(f); err != nil {
					return failure{err}
				}
			}
			r := v.Report()
			fmt.Fprintln(cmd.OutOrStdout(), r)
			if !r.OK() {
				return failure{errors.New("delivery check failed")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manifestPath, "manifest", "bench-manifest.json", "FILE that send wrote")
	cmd.Flags().StringVar(&output, "output", "", "kinesyslog --output DIR to check")
	cmd.Flags().StringVar(&rsyslogFile, "rsyslog", "", "rsyslog output FILE to check")
	return cmd
}

func tableCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "table RESULTS...",
		Short: "Print the results files of run as one table, then issue 13's targets",
		Long: `table prints the results files of run as one table, in order, then issue 13's targets over the
rounds of the loads behind them (run --round), when the results hold those loads: each round's
figure, the median over the rounds, and whether it meets the target.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []bench.Result
			for _, path := range args {
				rs, err := bench.ReadResults(path)
				if err != nil {
					return failure{err}
				}
				all = append(all, rs...)
			}
			w := cmd.OutOrStdout()
			err := bench.WriteTable(w, all)
			if err == nil {
				fmt.Fprintln(w)
				err = bench.WriteTargets(w, all)
			}
			if err != nil {
				return failure{err}
			}
			return nil
		},
	}
}
