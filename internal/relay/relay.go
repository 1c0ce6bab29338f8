// Package relay wires the stages of kinesyslog together and runs them: this file shows the whole
// flow of a message, from socket to destination.
//
//	listener ──Stream.Add/Commit──▶ event ──▶ buffer ──Batch──▶ encode ──WriteGroup──▶ spool
//	                                  │                           │                    │
//	                   intake log ◀───┘ Append        Release ◀───┘                    │
//	                      destination (Firehose, Kinesis or s3dir) ◀──Put── upload ◀───┘
//
// With the intake log (--intake-log on, the default), every commit is appended to it before the
// buffers take it, and the record stage releases what it has spooled. At start, until the record
// owner is known, what arrives waits in the log only (event.Streams.Hold); then what an earlier
// run left unreleased and what waited are replayed into the buffers, alongside new messages.
//
// Shutdown runs in the same order: listeners stop and drain, buffers are encoded and spooled,
// the uploader makes one last attempt bounded by the shutdown timeout, and what it could not
// deliver stays in the spool for the next start. With the intake log, the buffers spool at most
// one group of records (buffer.Buffers.Close: the largest batches) and what is not spooled stays
// in the log, which the next start replays, so that shutdown takes little more than the drain
// however many sources the buffers hold; the log is synced and closed last.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/kinesyslog/kinesyslog/internal/buffer"
	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/encode"
	"github.com/kinesyslog/kinesyslog/internal/event"
	"github.com/kinesyslog/kinesyslog/internal/gelf"
	"github.com/kinesyslog/kinesyslog/internal/intake"
	"github.com/kinesyslog/kinesyslog/internal/listener"
	"github.com/kinesyslog/kinesyslog/internal/metrics"
	"github.com/kinesyslog/kinesyslog/internal/spool"
	"github.com/kinesyslog/kinesyslog/internal/syslog"
	"github.com/kinesyslog/kinesyslog/internal/upload"
)

// Run runs a relay configured by cfg until ctx is done, then shuts it down in pipeline order. It
// returns an error when the relay cannot start (no port, a port in use, an unusable spool or
// destination) or when received data could not be spooled at shutdown.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	reg := metrics.NewRegistry()

	sp, err := spool.Open(cfg.SpoolDir, spool.Options{MaxBytes: cfg.SpoolRecordBytes(), Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	defer sp.Close(context.WithoutCancel(ctx))

	var log *intake.Log // nil: --intake-log off
	if cfg.IntakeLog {
		log, err = intake.Open(cfg.IntakeDir, intake.Options{SyncInterval: cfg.IntakeSyncInterval,
			MaxBytes: cfg.IntakeMaxBytes(), Logger: logger, Registerer: reg})
		if err != nil {
			return err
		}
		defer log.Close(context.WithoutCancel(ctx))
	}

	dest, err := openDestination(ctx, cfg, logger, reg)
	if err != nil {
		return err
	}
	defer dest.Close(context.WithoutCancel(ctx))

	// Each port reads syslog or GELF, which decides how its messages are framed, assembled,
	// stamped and grouped (<prefix>/syslog/<port>, <prefix>/gelf/<port>). GELF's incomplete
	// chunk sets expire after gelf.DefaultExpiry.
	syslogPorts, gelfPorts := formatPorts(cfg)
	syslogStamper := syslog.Stamper{Parser: syslog.Parser{Location: cfg.Timezone}}
	gelfStamper := gelf.NewStamper(gelf.StamperOptions{Registerer: reg})
	assembler := gelf.NewAssembler(gelf.Options{MaxMessageBytes: cfg.MaxMessageBytes, Logger: logger, Registerer: reg})

	// SIGHUP reloads the TLS certificate; without a handler it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ln, err := listener.Listen(listener.Options{
		Address:            cfg.Address,
		UDPPorts:           syslogPorts.udp,
		TCPPorts:           syslogPorts.tcp,
		TLSPorts:           syslogPorts.tls,
		GELFUDPPorts:       gelfPorts.udp,
		GELFTCPPorts:       gelfPorts.tcp,
		GELFTLSPorts:       gelfPorts.tls,
		Datagrams:          assembler,
		RELPPorts:          cfg.RELPPorts,
		RELPTLSPorts:       cfg.RELPTLSPorts,
		ProxyProtocolPorts: cfg.ProxyProtocolPorts,
		CertFile:           cfg.CertFile,
		KeyFile:            cfg.KeyFile,
		ClientCAFile:       cfg.ClientCAFile,
		ClientAuth:         cfg.ClientAuth,
		ClientAllow:        cfg.ClientAllow,
		Reload:             hup,
		MaxMessageBytes:    cfg.MaxMessageBytes,
		IdleTimeout:        cfg.IdleTimeout,
		MaxConnections:     cfg.MaxConnections,
		UDPReaders:         cfg.UDPReaders,
		Logger:             logger,
		Registerer:         reg,
	})
	if err != nil {
		return err
	}

	// /healthz and /readyz report the checks each stage gives.
	health := new(metrics.Health)
	metricsServer, err := metrics.Serve(cfg.MetricsAddress, reg, health, logger)
	if err != nil {
		return err
	}
	defer metricsServer.Close()

	// A destination that keeps a source's records in order gets them made in order.
	_, ordered := dest.(upload.Ordered)
	buffers := buffer.New(buffer.Options{FlushAge: cfg.FlushAge, MaxBytes: cfg.BufferMaxBytes(), Ordered: ordered,
		Logger: logger, Registerer: reg})
	var released encode.Releaser
	if log != nil {
		released = log
	}
	records, err := encode.New(buffers, sp, dest, encode.Options{LogGroupPrefix: cfg.GroupPrefix + "/syslog",
		PortGroupPrefixes: groupPrefixes(cfg.GroupPrefix+"/gelf", gelfPorts.numbers()),
		MaxRecordBytes:    dest.Limits().MaxRecordBytes, Log: released, Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	uploader := upload.New(sp, dest, upload.Options{Interval: cfg.FlushAge, CallTimeout: cfg.UploadTimeout,
		StallTimeout: cfg.StallTimeout, Logger: logger, Registerer: reg})
	health.Ready("listeners", ln.Check)
	health.Ready("spool", sp.Check)
	if log != nil {
		health.Ready("intake_log", log.Check)
	}
	health.Ready("destination", uploader.Check)

	// The stages behind the listeners run on contexts of their own, so that they outlive ctx
	// until everything received has been handed on.
	stages, stopStages := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStages()
	var stageGroup sync.WaitGroup
	stageGroup.Go(func() { defer health.Stage("buffers")(); buffers.Run(stages) })
	stageGroup.Go(func() { defer health.Stage("uploader")(); uploader.Run(stages) })
	stageGroup.Go(func() {
		if err := dest.Run(stages); err != nil {
			logger.Error("destination stopped", "destination", fmt.Sprint(dest), "error", err)
		}
	})
	if len(gelfPorts.udp) > 0 {
		stageGroup.Go(func() { defer health.Stage("gelf")(); assembler.Run(stages) })
	}
	var logDone chan error
	if log != nil {
		logDone = make(chan error, 1)
		go func() { defer health.Stage("intake_log")(); logDone <- log.Run(stages) }()
		// The log asks for the batches that pin its oldest segment.
		stageGroup.Go(func() { buffers.FlushOn(stages, log.FlushRequests()) })
	}

	// Spooling at shutdown and the last upload share one window, --shutdown-timeout from the
	// signal.
	window, closeWindow := encode.ShutdownWindow(ctx, stages, cfg.ShutdownTimeout)
	defer closeWindow()
	spooled := make(chan error, 1)
	go func() { defer health.Stage("records")(); spooled <- records.Run(window) }()

	streams := event.NewStreams(buffers, syslogStamper, log, event.FormatSyslog)
	streams.Read(event.FormatGELF, gelfStamper, gelfPorts.numbers()...)
	if err := streams.Register(reg); err != nil {
		return err
	}
	var replayed <-chan struct{} // closed when the intake log's replay is done
	if log != nil {
		// What an earlier run left goes first; until records can be made, what arrives waits in
		// the log, not in memory, and is replayed with it once they can.
		streams.Hold()
		replayed = startReplay(ctx, dest, streams, cfg.IntakeDir, logger)
	}
	logger.Info("relay started", startupAttrs(cfg, ln.Sockets(), fmt.Sprint(dest), sp.Dir())...)
	ln.Run(ctx, streams) // returns when ctx is done and every connection has drained

	logger.Info("shutting down: spooling buffered messages")
	if n := buffers.Close(); n > 0 {
		logger.Info("buffered messages of many sources left in the intake log, not spooled: the next start replays them", "messages", n)
	}
	if replayed != nil {
		<-replayed
	}
	shutdownErr := <-spooled
	if cfg.ShutdownTimeout > 0 {
		if err := uploader.Flush(window); err != nil {
			logger.Warn("records left in the spool for the next start", "error", err)
		}
	}
	stopStages()
	stageGroup.Wait()
	if log != nil {
		if err := <-logDone; err != nil {
			shutdownErr = errors.Join(shutdownErr, err)
		}
		if err := log.Close(context.WithoutCancel(ctx)); err != nil {
			shutdownErr = errors.Join(shutdownErr, err)
		}
	}
	logger.Info("relay stopped", "spooled_records", sp.Len())
	return shutdownErr
}
