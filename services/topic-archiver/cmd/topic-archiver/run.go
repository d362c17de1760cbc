package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/migrations"
)

// run wires the archiver — index, bucket, NATS, Kafka — and archives
// until ctx ends (or to the current end of every partition, with
// RUN_AS_SERVICE=false). setup has made the logger and the metrics
// server and closes what is opened here.
func run(ctx context.Context, cfg *Config, env *setup.Env) error {
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	meta, err := cfg.metaClient()
	if err != nil {
		return err
	}
	env.OnClose("kafka metadata client", meta.Close)
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "topic-archiver")
	if err != nil {
		return fmt.Errorf("TARGET: %w", err)
	}
	ix := index.New(pool)
	store, err := env.Store(ctx, cfg.S3)
	if err != nil {
		return fmt.Errorf("S3: %w", err)
	}
	var bus *natsbus.Bus
	if !cfg.NATS.IsZero() {
		if bus, err = env.NATS(ctx, cfg.NATS.Value()); err != nil {
			return err
		}
	}
	env.AddCheck("kafka", kafkaCheck(dialer, cfg.Brokers))

	env.Log.Info("starting", zap.Strings("brokers", cfg.Brokers), zap.Stringer("s3", cfg.S3), zap.Stringer("target", cfg.Target), zap.String("mode", cfg.StoreMode))
	ac := cfg.archiveConfig(dialer, meta)
	ac.Beat = env.Beat
	a := archive.New(ac, store, ix, bus, env.Log, archive.NewMetrics(env.Metrics))
	// The archiver is one long unit of work that checks for the stop
	// itself (and beats while it runs); the runner gives it the same
	// once/loop and signal handling as every service.
	rc := env.Runner()
	rc.Grace = 0
	return runner.Run(ctx, rc, env.Log, func(work context.Context) error {
		return a.Run(ctx)
	})
}

// kafkaCheck is the readiness check for Kafka: a metadata request to the
// first broker that answers, within the check's deadline.
func kafkaCheck(dialer *kafka.Dialer, brokers []string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var errs []error
		for _, b := range brokers {
			conn, err := dialer.DialContext(ctx, "tcp", b)
			if err != nil {
				errs = append(errs, fmt.Errorf("dial %s: %w", b, err))
				continue
			}
			if dl, ok := ctx.Deadline(); ok {
				_ = conn.SetDeadline(dl)
			}
			_, err = conn.Brokers()
			conn.Close()
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("metadata from %s: %w", b, err))
		}
		if len(errs) == 0 {
			return errors.New("no KAFKA_BROKERS")
		}
		return errors.Join(errs...)
	}
}
