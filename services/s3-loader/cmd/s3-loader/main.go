// Command s3-loader loads AWS DMS deliveries (full load and CDC) from S3
// into PostgreSQL, one transaction per file, and announces each on NATS.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/logging"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

const summary = "loads AWS DMS deliveries (full load + CDC) from S3 into PostgreSQL and announces each on NATS"

func main() {
	if config.HelpRequested(os.Args[1:]) {
		config.Usage(os.Stdout, "s3-loader", summary, &Config{})
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "s3-loader:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	log.Info("starting", zap.Stringer("source", cfg.Source), zap.Stringer("target", cfg.Target), zap.Bool("dry_run", cfg.DryRun), zap.String("on_bad_file", cfg.OnBadFile))

	srv := metrics.New("s3-loader")
	m := loader.NewMetrics(srv)
	go func() {
		if err := srv.Serve(ctx, cfg.MetricsAddr, log); err != nil {
			log.Error("metrics server", zap.Error(err))
		}
	}()

	pool, err := pg.Connect(ctx, cfg.Target.Value())
	if err != nil {
		return fmt.Errorf("TARGET: %w", err)
	}
	defer pool.Close()
	tgt := target.New(pool)
	if err := tgt.Migrate(ctx); err != nil {
		return err
	}
	srv.AddCheck("postgres", tgt.Ping)

	store, err := blob.Open(ctx, cfg.Source)
	if err != nil {
		return fmt.Errorf("SOURCE: %w", err)
	}
	src := source.New(store, cfg.Source.Path)

	var builder *notify.Builder
	var publisher *notify.Publisher
	if cfg.Notifications && !cfg.DryRun {
		bus, err := natsbus.Connect(ctx, cfg.NATS.Value(), "s3-loader", log)
		if err != nil {
			return err
		}
		defer bus.Close()
		srv.AddCheck("nats", bus.Check)
		builder = &notify.Builder{Subject: cfg.NotifySubject, DS: cfg.NotifyDS, ID: cfg.NotifyID, Host: natsbus.Host()}
		publisher = &notify.Publisher{Target: tgt, Bus: bus, Log: log,
			Sent: m.Notified.WithLabelValues("sent").Inc, Failed: m.Notified.WithLabelValues("failed").Inc}
		if cfg.TestPausePub {
			publisher.AfterPublish = func(id int64) {
				fmt.Fprintf(os.Stderr, "TEST PAUSE after publish of delivery %d\n", id)
				select {}
			}
		}
	}

	schemaMap, _ := cfg.schemaMap() // validated by Load
	l := loader.New(loader.Config{
		SchemaMap: schemaMap, NullValue: cfg.CSVNullValue, EventIDColumn: cfg.EventIDColumn,
		SkipBadFiles: cfg.OnBadFile == "skip", DryRun: cfg.DryRun,
		LateWindow: time.Duration(cfg.LateWindow) * time.Second, ProgressEvery: cfg.ProgressRows,
	}, src, tgt, builder, publisher, log, m)
	if cfg.TestPause {
		l.BeforeCommit = func(d *target.Delivery) {
			fmt.Fprintf(os.Stderr, "TEST PAUSE before commit of delivery %d\n", d.ID)
			select {}
		}
	}

	return runner.Run(ctx, cfg.Runner(), log, func(ctx context.Context) error {
		res, err := l.Pass(ctx)
		log.Info("pass done", zap.Int("applied", res.Applied), zap.Int("skipped", res.Skipped), zap.Int64("rows", res.Rows))
		return err
	})
}
