package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-parser/internal/announce"
	"tributary.dev/services/record-parser/internal/esout"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/parser"
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/internal/txdoc"
	"tributary.dev/services/record-parser/migrations"
)

// natsTimeout bounds each call to the NATS server.
const natsTimeout = 30 * time.Second

type service struct {
	parser   *parser.Parser
	state    *state.Store
	consumer *intake.Consumer // nil unless consuming
}

// build wires the parser: state, outputs, stream, metrics. kind is what
// the process is: the service (which consumes the downloader's stream),
// backfill or reparse; its temp files carry the kind. cfg has been
// validated.
func build(ctx context.Context, cfg *Config, env *setup.Env, kind string) (*service, error) {
	consume := kind == kindService
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "record-parser")
	if err != nil {
		return nil, err
	}
	st := state.New(pool, cfg.Network, cfg.statementTimeout())
	env.AddCheck("state", st.Check)
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
		if err := out.InstallBlocks(ctx); err != nil {
			return nil, fmt.Errorf("ELASTICSEARCH_URL: install the block index template: %w", err)
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
	m := parser.NewMetrics(env.Metrics)
	var ann *announce.Announcer
	if cfg.Notifications && bus != nil {
		if ann, err = announce.New(ctx, bus, cfg.announceConfig()); err != nil {
			return nil, err
		}
		if consume {
			go watchStream(ctx, ann, m, env.Log)
		}
	}
	var pub parser.Announcer
	if ann != nil {
		pub = ann
	}
	p, err := parser.New(parser.Config{
		RecordDir: cfg.RecordDir, OutputDir: cfg.OutputDir, DeadLetterDir: cfg.deadLetterDir(), QuarantineDir: cfg.quarantineDir(),
		Kind: kind, Network: cfg.Network, StopOnBreak: cfg.OnChainBreak == "stop", Concurrency: cfg.Concurrency,
		ChainWait: time.Duration(cfg.ChainWait) * time.Second, Heartbeat: time.Duration(cfg.AckWait) * time.Second / 3,
		Documents: txdoc.Options{TransactionBytes: cfg.TxBytes},
	}, st, es, pub, env.Log, m)
	if err != nil {
		return nil, err
	}
	// Temp files a killed process of this kind left are never renamed:
	// remove them, wherever this process writes (dead letters and
	// quarantine copies may live outside OUTPUT_DIR) — never another
	// replica's or a backfill's that is writing now.
	removed, err := p.CleanTemp()
	if err != nil {
		return nil, err
	}
	for dir, n := range removed {
		env.Log.Info("removed temp files left by an earlier run", zap.String("dir", dir), zap.Int("files", n), zap.String("kind", kind))
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
	env.Log.Info("starting", zap.String("kind", kind), zap.String("record_dir", cfg.RecordDir), zap.String("output_dir", cfg.OutputDir),
		zap.Bool("elasticsearch", es != nil), zap.String("network", cfg.Network), zap.String("on_chain_break", cfg.OnChainBreak),
		zap.Bool("announce", ann != nil), zap.String("parsed_stream", cfg.ParsedStream), zap.Stringer("target", cfg.Target))
	return s, nil
}

// The kinds of process, as their temp files name them.
const (
	kindService  = "service"
	kindBackfill = "backfill"
	kindReparse  = "reparse"
)

// streamWatch is how often the parsed stream's fill is read for the
// gauges.
const streamWatch = 30 * time.Second

// watchStream keeps the parsed stream's gauges current until ctx ends.
func watchStream(ctx context.Context, ann *announce.Announcer, m *parser.Metrics, log *zap.Logger) {
	t := time.NewTicker(streamWatch)
	defer t.Stop()
	for {
		bytes, _, limit, err := ann.Usage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("parsed stream: usage not read", zap.Error(err))
			}
		} else {
			m.StreamBytes.Set(float64(bytes))
			m.StreamLimit.Set(float64(limit))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// buildState opens only the state, for the operator verbs.
func buildState(ctx context.Context, cfg *Config, env *setup.Env) (*state.Store, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "record-parser")
	if err != nil {
		return nil, err
	}
	return state.New(pool, cfg.Network, cfg.statementTimeout()), nil
}
