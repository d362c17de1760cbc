package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// run wires the loader's dependencies — metrics, target, source, NATS —
// and runs passes until ctx ends (or once, with RUN_AS_SERVICE=false).
func run(ctx context.Context, cfg Config, log *zap.Logger) error {
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

	return runner.Run(ctx, runner.FromCommon(cfg.Common), log, func(ctx context.Context) error {
		res, err := l.Pass(ctx)
		log.Info("pass done", zap.Int("applied", res.Applied), zap.Int("skipped", res.Skipped), zap.Int64("rows", res.Rows))
		return err
	})
}
