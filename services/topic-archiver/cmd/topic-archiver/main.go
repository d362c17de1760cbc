// Command topic-archiver archives every public Kafka topic to S3 (BSON) and
// PostgreSQL (an index), and carries the operators' utilities as verbs:
// list, connect, status, publish, verify, inspect, uuids, restore, logs,
// clean-tests, clean-duplicates.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/logging"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/tools"
)

const summary = "archives every public Kafka topic to S3 + PostgreSQL and restores it"

func main() {
	args := os.Args[1:]
	verb := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	if verb == "help" || (verb == "run" && config.HelpRequested(args)) {
		config.Usage(os.Stdout, "topic-archiver", summary, &Config{})
		fmt.Println("\nVerbs (topic-archiver VERB --help for each):")
		tools.PrintVerbs(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, verb, args); err != nil {
		fmt.Fprintln(os.Stderr, "topic-archiver:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, verb string, args []string) error {
	if verb != "run" && !tools.Known(verb) {
		return fmt.Errorf("unknown verb %q (topic-archiver help lists them)", verb)
	}
	var cfg Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, cfg.Target.Value())
	if err != nil {
		if verb == "connect" {
			pool = nil // connect reports it with the others
		} else {
			return fmt.Errorf("TARGET: %w", err)
		}
	}
	var ix *index.Index
	if pool != nil {
		defer pool.Close()
		ix = index.New(pool)
		if err := ix.Migrate(ctx); err != nil {
			return err
		}
	}
	store, err := blob.Open(ctx, cfg.S3)
	if err != nil {
		return fmt.Errorf("S3: %w", err)
	}
	var bus *natsbus.Bus
	if !cfg.NATS.IsZero() {
		if bus, err = natsbus.Connect(ctx, cfg.NATS.Value(), "topic-archiver", log); err != nil && verb != "connect" {
			return err
		}
		defer bus.Close()
	}
	env := &tools.Env{Out: os.Stdout, Log: log, Index: ix, Store: store, Bus: bus, Brokers: cfg.Brokers, Dialer: dialer,
		Root: cfg.S3.Path, TestTopic: cfg.TestTopic, NATSErr: err, Selector: cfg.archiveConfig(dialer).Topics}
	if verb != "run" {
		return tools.Run(ctx, env, verb, args)
	}

	srv := metrics.New("topic-archiver")
	m := archive.NewMetrics(srv)
	srv.AddCheck("postgres", ix.Ping)
	if bus != nil {
		srv.AddCheck("nats", bus.Check)
	}
	go func() {
		if err := srv.Serve(ctx, cfg.MetricsAddr, log); err != nil {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("starting", zap.Strings("brokers", cfg.Brokers), zap.Stringer("s3", cfg.S3), zap.Stringer("target", cfg.Target), zap.String("mode", cfg.StoreMode))
	a := archive.New(cfg.archiveConfig(dialer), store, ix, bus, log, m)
	// The archiver is one long unit of work that checks for the stop
	// itself; the runner gives it the same once/loop and signal handling
	// as every service.
	rc := runner.FromCommon(cfg.Common)
	rc.Grace = 0
	return runner.Run(ctx, rc, log, func(work context.Context) error {
		return a.Run(ctx)
	})
}
