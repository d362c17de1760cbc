package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/registry-processor/internal/colin"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/pipeline"
	"tributary.dev/services/registry-processor/internal/poster"
	"tributary.dev/services/registry-processor/internal/status"
	"tributary.dev/services/registry-processor/internal/testdata"
	"tributary.dev/services/registry-processor/migrations"
)

// lockName is the advisory lock on TARGET that keeps a second processor
// on the same database waiting while one works.
const lockName = "registry-processor"

type service struct {
	cfg  *Config
	env  *setup.Env
	db   *epdb.DB
	pipe *pipeline.Pipeline
}

// build opens what a verb needs: always the event-processor database;
// the source and the controller when withSource / withPoster.
func build(ctx context.Context, cfg *Config, env *setup.Env, withSource, withPoster bool) (*service, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "registry-processor")
	if err != nil {
		return nil, fmt.Errorf("TARGET: %w", err)
	}
	timeout := time.Duration(cfg.SQLTimeout) * time.Second
	db := epdb.New(pool, timeout)
	s := &service{cfg: cfg, env: env, db: db}
	var src *colin.Source
	if withSource {
		srcPool, err := pg.Connect(ctx, cfg.Source.Value(), pg.WithStatementTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DB: %w", err)
		}
		env.OnClose("source", srcPool.Close)
		src = colin.New(srcPool, timeout)
		env.AddCheck("source", src.Check)
	}
	var post *poster.Poster
	if withPoster {
		post = poster.New(poster.Config{
			URL: cfg.ControllerURL, Batch: cfg.PostBatch, Concurrency: cfg.PostParallel,
			Timeout: time.Duration(cfg.PostTimeout) * time.Second, Retries: cfg.PostRetries, Page: 3000,
			MaxErrors: cfg.MaxErrors, ReadinessWait: 480 * time.Second, Log: env.Log, Metrics: poster.NewMetrics(env.Metrics),
		}, pipeline.PostStore{DB: db})
	}
	var bus pipeline.Publisher
	if cfg.Notifications && !cfg.NATS.IsZero() {
		b, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return nil, err
		}
		bus = b
	}
	s.pipe = pipeline.New(pipeline.Config{BatchSize: cfg.CorpBatch, Progress: progress()}, src, db, post, bus, env.Log, pipeline.NewMetrics(env.Metrics))
	s.pipe.Beat = env.Beat
	page := status.Handler(db, status.Options{})
	env.Metrics.Handle("/status", page)
	env.Metrics.Handle("/status.json", page)
	env.AddCheck("target", db.Check)
	return s, nil
}

// locked runs fn holding the processor lock. A second processor on the
// same database waits here, alive (it beats), until the first is done.
func (s *service) locked(ctx context.Context, fn func(ctx context.Context) error) error {
	conn, err := s.db.Pool().Acquire(ctx)
	if err != nil {
		return fmt.Errorf("TARGET: %w", err)
	}
	defer conn.Release()
	logged := false
	for {
		ok, unlock, err := pg.TryAdvisoryLock(ctx, conn, lockName)
		if err != nil {
			return err
		}
		if ok {
			defer unlock()
			return fn(ctx)
		}
		if !logged {
			s.env.Log.Info("another registry-processor holds the lock on TARGET: waiting")
			logged = true
		}
		s.env.Beat()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		if runner.Stopping(ctx) {
			return nil
		}
	}
}

// progress shows how far a long stage is (a bar on a terminal, a line
// every few seconds otherwise), one display per stage.
func progress() func(stage string, done, total int) {
	var mu sync.Mutex
	bars := map[string]func(int, int){}
	return func(stage string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if bars[stage] == nil {
			bars[stage] = testdata.Progress(os.Stderr, stage)
		}
		bars[stage](done, total)
	}
}
