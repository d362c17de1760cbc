package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
	"tributary.dev/services/s3-loader/migrations"
)

// run wires the loader's dependencies — target, source, NATS — and runs
// passes until ctx ends (or once, with RUN_AS_SERVICE=false). setup has
// made the logger and the metrics server and closes what is opened here.
func run(ctx context.Context, cfg *Config, env *setup.Env) error {
	log := env.Log
	log.Info("starting", zap.Stringer("source", cfg.Source), zap.Stringer("target", cfg.Target), zap.Bool("dry_run", cfg.DryRun), zap.String("on_bad_file", cfg.OnBadFile))
	m := loader.NewMetrics(env.Metrics)

	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "s3-loader")
	if err != nil {
		return fmt.Errorf("TARGET: %w", err)
	}
	tgt := target.New(pool)
	store, err := env.Store(ctx, cfg.Source)
	if err != nil {
		return fmt.Errorf("SOURCE: %w", err)
	}
	src := source.New(store, cfg.Source.Path)

	var builder *notify.Builder
	var publisher *notify.Publisher
	if cfg.Notifications && !cfg.DryRun {
		bus, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return err
		}
		builder = &notify.Builder{Subject: cfg.NotifySubject, DS: cfg.NotifyDS, ID: cfg.NotifyID, Host: natsbus.Host()}
		publisher = &notify.Publisher{Target: tgt, Bus: bus, Log: log,
			Sent: m.Notified.WithLabelValues("sent").Inc, Failed: m.Notified.WithLabelValues("failed").Inc}
	}

	schemaMap, _ := cfg.schemaMap() // validated by Load
	l := loader.New(loader.Config{
		SchemaMap: schemaMap, NullValue: cfg.CSVNullValue, EventIDColumn: cfg.EventIDColumn,
		SkipBadFiles: cfg.OnBadFile == "skip", DryRun: cfg.DryRun,
		LateWindow: time.Duration(cfg.LateWindow) * time.Second, ProgressEvery: cfg.ProgressRows,
		Beat:            env.Beat,
		OutboxRetention: time.Duration(cfg.OutboxHours) * time.Hour,
	}, src, tgt, builder, publisher, log, m)
	installFaults(l, publisher)

	return runner.Run(ctx, env.Runner(), log, func(ctx context.Context) error {
		res, err := l.Pass(ctx)
		log.Info("pass done", zap.Int("applied", res.Applied), zap.Int("skipped", res.Skipped), zap.Int64("rows", res.Rows))
		return err
	})
}
