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

// runMain is the service.
func runMain(args []string) {
	var cfg Config
	setup.Main("s3-loader", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		return run(ctx, &cfg, env)
	}, setup.Args(args), setup.MoreHelp(verbs))
}

// open makes the target and the source every verb works on.
func open(ctx context.Context, cfg *Config, env *setup.Env) (*target.Target, *source.Source, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "s3-loader")
	if err != nil {
		return nil, nil, fmt.Errorf("TARGET: %w", err)
	}
	store, err := env.Store(ctx, cfg.Source)
	if err != nil {
		return nil, nil, fmt.Errorf("SOURCE: %w", err)
	}
	s, _ := cfg.settings() // validated by Load
	return target.New(pool), source.New(store, cfg.Source.Path, s.DatePartition), nil
}

// loaderConfig is the domain's view of the configuration.
func loaderConfig(cfg *Config, env *setup.Env) loader.Config {
	schemaMap, _ := cfg.schemaMap() // validated by Load
	s, _ := cfg.settings()
	return loader.Config{
		SchemaMap: schemaMap, Settings: s, EventIDColumn: cfg.EventIDColumn,
		SkipBadFiles: cfg.OnBadFile == "skip", DryRun: cfg.DryRun,
		LateWindow:      time.Duration(cfg.LateWindow) * time.Second,
		AuditEvery:      time.Duration(cfg.AuditEvery) * time.Second,
		ProgressEvery:   cfg.ProgressRows,
		Beat:            env.Beat,
		OutboxRetention: time.Duration(cfg.OutboxHours) * time.Hour,
	}
}

// run wires the loader's dependencies — target, source, NATS — and runs
// passes until ctx ends (or once, with RUN_AS_SERVICE=false). setup has
// made the logger and the metrics server and closes what is opened here.
func run(ctx context.Context, cfg *Config, env *setup.Env) error {
	log := env.Log
	log.Info("starting", zap.Stringer("source", cfg.Source), zap.Stringer("target", cfg.Target), zap.Bool("dry_run", cfg.DryRun), zap.String("on_bad_file", cfg.OnBadFile))
	m := loader.NewMetrics(env.Metrics)
	tgt, src, err := open(ctx, cfg, env)
	if err != nil {
		return err
	}

	var builder *notify.Builder
	var publisher *notify.Publisher
	if cfg.Notifications && !cfg.DryRun {
		bus, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return err
		}
		stream, err := notify.EnsureStream(ctx, bus, cfg.Stream, cfg.NotifySubject, time.Duration(cfg.DedupWindow)*time.Second)
		if err != nil {
			return fmt.Errorf("NATS_STREAM: %w", err)
		}
		log.Info("notifications are stored in JetStream", zap.String("stream", stream), zap.String("subject", cfg.NotifySubject))
		builder = &notify.Builder{Subject: cfg.NotifySubject, DS: cfg.NotifyDS, ID: cfg.NotifyID, Host: natsbus.Host()}
		publisher = &notify.Publisher{Target: tgt, Bus: bus, Log: log,
			Sent: m.Notified.WithLabelValues("sent").Inc, Failed: m.Notified.WithLabelValues("failed").Inc}
	}

	l := loader.New(loaderConfig(cfg, env), src, tgt, builder, publisher, log, m)
	installFaults(l, publisher)

	return runner.Run(ctx, env.Runner(), log, func(ctx context.Context) error {
		res, err := l.Pass(ctx)
		log.Info("pass done", zap.Int("applied", res.Applied), zap.Int("skipped", res.Skipped), zap.Int64("rows", res.Rows), zap.Int("halted_tables", res.Halted))
		return err
	})
}
