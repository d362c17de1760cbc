package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-parser/internal/esout"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/ndjson"
	"tributary.dev/services/record-parser/internal/parser"
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/migrations"
)

// natsTimeout bounds each call to the NATS server.
const natsTimeout = 30 * time.Second

type service struct {
	parser   *parser.Parser
	state    *state.Store
	consumer *intake.Consumer // nil unless consuming
}

// build wires the parser: state, outputs, stream, metrics. consume says
// whether to open the stream's consumer (not for a backfill). cfg has
// been validated.
func build(ctx context.Context, cfg *Config, env *setup.Env, consume bool) (*service, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "record-parser")
	if err != nil {
		return nil, err
	}
	st := state.New(pool, cfg.Network, cfg.statementTimeout())
	env.AddCheck("state", st.Check)
	// Temp files a killed process left are never renamed: remove them,
	// wherever this process writes (dead letters and quarantine copies
	// may live outside OUTPUT_DIR).
	for name, dir := range map[string]string{"OUTPUT_DIR": cfg.OutputDir, "DEADLETTER_DIR": cfg.deadLetterDir(), "QUARANTINE_DIR": cfg.quarantineDir()} {
		if dir == "" {
			continue
		}
		if n, err := ndjson.CleanTemp(dir); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		} else if n > 0 {
			env.Log.Info("removed temp files left by an earlier run", zap.String("dir", dir), zap.Int("files", n))
		}
	}
	var es parser.Index
	if urls, _ := cfg.esURLs(); len(urls) > 0 {
		out, err := esout.New(esout.Config{
			URLs: urls, Username: cfg.ESUser, Password: cfg.ESPassword.Value(), APIKey: cfg.ESAPIKey.Value(),
			Timeout: time.Duration(cfg.ESTimeout) * time.Second, FlushBytes: cfg.ESBulkBytes, Retries: cfg.ESRetries,
			Log: env.Log, Metrics: esout.NewMetrics(env.Metrics),
		})
		if err != nil {
			return nil, fmt.Errorf("ELASTICSEARCH_URL: %w", err)
		}
		if err := out.Install(ctx); err != nil {
			return nil, fmt.Errorf("ELASTICSEARCH_URL: install the index template: %w", err)
		}
		env.AddCheck("elasticsearch", out.Check)
		es = out
	}
	var bus *natsbus.Bus
	if !cfg.NATS.IsZero() && (consume || cfg.Notifications) {
		if bus, err = env.NATS(ctx, cfg.NATS.Value()); err != nil {
			return nil, err
		}
	}
	var pub parser.Publisher
	if cfg.Notifications && bus != nil {
		pub = bus
	}
	p, err := parser.New(parser.Config{
		RecordDir: cfg.RecordDir, OutputDir: cfg.OutputDir, DeadLetterDir: cfg.deadLetterDir(), QuarantineDir: cfg.quarantineDir(),
		Network: cfg.Network, StopOnBreak: cfg.OnChainBreak == "stop", Concurrency: cfg.Concurrency, ChainWait: cfg.ChainWait,
	}, st, es, pub, env.Log, parser.NewMetrics(env.Metrics))
	if err != nil {
		return nil, err
	}
	p.Beat = env.Beat
	if err := p.Restore(ctx); err != nil {
		return nil, err
	}
	s := &service{parser: p, state: st}
	if consume {
		c, err := intake.OpenConsumer(ctx, bus.JS, intake.ConsumerConfig{
			Stream: cfg.Stream, Durable: cfg.Consumer, AckWait: time.Duration(cfg.AckWait) * time.Second,
			MaxAckPending: cfg.Concurrency * 8, Timeout: natsTimeout,
		})
		if err != nil {
			return nil, err
		}
		env.AddCheck("stream", c.Check)
		s.consumer = c
	}
	env.Log.Info("starting", zap.String("record_dir", cfg.RecordDir), zap.String("output_dir", cfg.OutputDir),
		zap.Bool("elasticsearch", es != nil), zap.String("network", cfg.Network), zap.String("on_chain_break", cfg.OnChainBreak),
		zap.Stringer("target", cfg.Target))
	return s, nil
}

// buildState opens only the state, for the operator verbs.
func buildState(ctx context.Context, cfg *Config, env *setup.Env) (*state.Store, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "record-parser")
	if err != nil {
		return nil, err
	}
	return state.New(pool, cfg.Network, cfg.statementTimeout()), nil
}
