package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/setup"
	"tributary.dev/services/registry-processor/internal/colin"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/internal/pipeline"
	"tributary.dev/services/registry-processor/internal/poster"
	"tributary.dev/services/registry-processor/internal/status"
	"tributary.dev/services/registry-processor/internal/testdata"
	"tributary.dev/services/registry-processor/migrations"
)

type service struct {
	cfg  *Config
	env  *setup.Env
	db   *epdb.DB
	src  *colin.Source // nil without SOURCE_DB
	post *poster.Poster
	pipe *pipeline.Pipeline
	lock *lock
}

// needs says what a verb opens.
type needs struct {
	migrate bool // apply the migrations (status, requeue and verify never do)
	source  bool // SOURCE_DB is required (otherwise opened when set)
	poster  bool // post to the controller
	writes  bool // writes credentials: PYTZ_TZDATA is checked first
	resend  bool // post --unconfirmed
}

// build opens what a verb needs: always the event-processor database;
// the source when set (required when n.source); the controller when
// n.poster.
func build(ctx context.Context, cfg *Config, env *setup.Env, n needs) (*service, error) {
	var mig fs.FS = migrations.FS
	if !n.migrate {
		mig = nil
	}
	pool, err := env.Postgres(ctx, cfg.Target.Value(), mig, "registry-processor")
	if err != nil {
		return nil, fmt.Errorf("TARGET: %w", err)
	}
	timeout := time.Duration(cfg.SQLTimeout) * time.Second
	db := epdb.New(pool, timeout).WithDates(cfg.rules())
	s := &service{cfg: cfg, env: env, db: db, lock: newLock(cfg.Target.Value(), env.Log, env.Beat)}
	if n.source && cfg.Source.IsZero() {
		return nil, cfg.needSource("this verb")
	}
	if !cfg.Source.IsZero() {
		srcPool, err := pg.Connect(ctx, cfg.Source.Value(), pg.WithStatementTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DB: %w", err)
		}
		env.OnClose("source", srcPool.Close)
		s.src = colin.New(srcPool, timeout)
		env.AddCheck("source", s.src.Check)
	}
	if n.writes {
		ev, err := db.CheckDates(ctx, cfg.rules())
		if err != nil {
			return nil, err
		}
		if ev.Found {
			env.Log.Info("dates print as credential_log was written", zap.Stringer("pytz_tzdata", cfg.rules()),
				zap.Int64("evidence_record", ev.RecordID), zap.String("evidence", ev.Value))
		} else {
			env.Log.Info("credential_log holds no date that tells the pytz rules apart: any PYTZ_TZDATA fits it", zap.Stringer("pytz_tzdata", cfg.rules()))
		}
	}
	resend := time.Duration(cfg.ResendAfter) * time.Second
	s.post = poster.New(poster.Config{
		URL: cfg.ControllerURL.Value(), Batch: cfg.PostBatch, Concurrency: cfg.PostParallel,
		Timeout: cfg.postTimeout(), Retries: cfg.PostRetries, Page: 3000, RunLimit: time.Duration(cfg.PostRunLimit) * time.Second,
		ResendAll: n.resend, Resend: resend,
		MaxErrors: cfg.MaxErrors, ReadinessWait: 480 * time.Second, Log: env.Log, Metrics: poster.NewMetrics(env.Metrics),
	}, pipeline.PostStore{DB: db})
	var post *poster.Poster
	if n.poster {
		post = s.post
	}
	var bus pipeline.Publisher
	if cfg.Notifications && !cfg.NATS.IsZero() && n.migrate {
		b, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return nil, err
		}
		bus = b
	}
	m := pipeline.NewMetrics(env.Metrics)
	s.pipe = pipeline.New(pipeline.Config{BatchSize: cfg.CorpBatch, Progress: progress(), Dates: cfg.rules(), PageAbove: cfg.TouchedWarn},
		s.src, db, post, bus, env.Log, m)
	s.pipe.Beat = env.Beat
	env.AddCheck("target", db.Check)
	if n.migrate {
		// The gauges a dashboard reads from the start, not only after
		// the first run: the high-water mark and the table counts.
		s.pipe.RefreshGauges(ctx)
	}
	return s, nil
}

// statusOptions are the page's and `status`'s probes.
func (s *service) statusOptions() status.Options {
	opt := status.Options{Probes: status.Probes{Ready: s.post.Ready, Lock: s.lock.State}}
	if s.src != nil {
		opt.Probes.Newest = func(ctx context.Context) (int64, time.Time, error) {
			id, ts, _, err := s.src.MaxEventBefore(ctx, pacific.Now())
			return id, ts, err
		}
	}
	return opt
}

// serveStatus puts /status and /status.json on the metrics server.
func (s *service) serveStatus() {
	page := status.Handler(status.NewCache(s.db, s.statusOptions()))
	s.env.Metrics.Handle("/status", page)
	s.env.Metrics.Handle("/status.json", page)
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
