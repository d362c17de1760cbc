package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/internal/status"
	"tributary.dev/services/registry-processor/internal/testdata"
)

// runMain is the service: a run every MIN_SLEEP..MAX_SLEEP seconds.
func runMain(args []string) {
	var cfg Config
	setup.Main("registry-processor", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		if err := cfg.needSource("run"); err != nil {
			return err
		}
		s, err := build(ctx, &cfg, env, true, true)
		if err != nil {
			return err
		}
		return runner.Run(ctx, env.Runner(), env.Log, func(ctx context.Context) error {
			return s.locked(ctx, s.pipe.Run)
		})
	}, setup.Args(args), setup.MoreHelp(verbs))
}

func migrateMain(args []string) {
	var cfg Config
	setup.Main("registry-processor migrate", "creates the event-processor tables, or accepts the original's", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if _, err := build(ctx, &cfg, env, false, false); err != nil {
				return err
			}
			env.Log.Info("event-processor database ready")
			return nil
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// initialLoadMain queues every corporation and generates its credentials
// (posting is `post`, or the service).
func initialLoadMain(args []string) {
	var cfg Config
	setup.Main("registry-processor initial-load", "queues every corporation of SOURCE_DB and generates their credentials", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if err := cfg.needSource("initial-load"); err != nil {
				return err
			}
			s, err := build(ctx, &cfg, env, true, false)
			if err != nil {
				return err
			}
			return s.locked(ctx, func(ctx context.Context) error {
				start := time.Now()
				found, err := s.pipe.InitialLoad(ctx)
				if err != nil {
					return err
				}
				env.Log.Info("corporations queued", zap.Int("corps", found.Corps), zap.Int64("to_event", found.To.EventID), zap.Duration("took", time.Since(start)))
				proc, err := s.pipe.ProcessQueue(ctx)
				env.Log.Info("initial load done", zap.Int("corps", proc.Corps), zap.Int("credentials", proc.Credentials),
					zap.Int("skipped", proc.Skipped), zap.Int("failed", proc.Failed), zap.Duration("took", time.Since(start)))
				return err
			})
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

func postMain(args []string) {
	var cfg Config
	setup.Main("registry-processor post", "posts the credentials waiting in credential_log", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := build(ctx, &cfg, env, false, true)
			if err != nil {
				return err
			}
			return s.locked(ctx, func(ctx context.Context) error {
				st, err := s.pipe.Post(ctx)
				env.Log.Info("posting done", zap.Int("posted", st.Success), zap.Int("failed", st.Failed),
					zap.Int("retried", st.Retried), zap.Int("unconfirmed", st.Unconfirmed), zap.Duration("took", st.Elapsed))
				return err
			})
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

func statusMain(args []string) {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor status: %v (usage: registry-processor status [--json])\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor status", "per table: processed, outstanding, errors, recent errors", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := build(ctx, &cfg, env, false, false)
			if err != nil {
				return err
			}
			if *asJSON {
				snap, err := status.Take(ctx, s.db, 10, 5*time.Minute)
				if err != nil {
					return err
				}
				return status.JSON(os.Stdout, snap)
			}
			counts, err := s.db.Status(ctx, time.Now())
			if err != nil {
				return err
			}
			runs, err := s.db.Runs(ctx, 10)
			if err != nil {
				return err
			}
			return status.Text(os.Stdout, counts, runs)
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}

func requeueMain(args []string) {
	fs := flag.NewFlagSet("requeue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	failed := fs.Bool("failed", false, "queue the failed corps again and reset failed credentials (required)")
	corp := fs.String("corp", "", "only this corp number")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor requeue: %v (usage: registry-processor requeue --failed [--corp N])\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor requeue", "queues failed corps again and resets failed credentials", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if !*failed {
				return errors.New("requeue: --failed is required (what is requeued: rows with process_success N)")
			}
			s, err := build(ctx, &cfg, env, false, false)
			if err != nil {
				return err
			}
			q, c, err := s.db.Requeue(ctx, true, *corp)
			if err != nil {
				return err
			}
			fmt.Printf("requeued: %d queue rows, %d credentials\n", q, c)
			return nil
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// testdataMain is `testdata generate --corps N --seed S [--events N]`.
func testdataMain(args []string) {
	if len(args) == 0 || args[0] != "generate" {
		fmt.Fprintln(os.Stderr, "registry-processor testdata: usage: registry-processor testdata generate --corps N --seed S [--events N] [--now T]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("testdata generate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	corps := fs.Int("corps", 1000, "corporations to generate (0: only --events)")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same data")
	events := fs.Int("events", 0, "later events to append to existing corps")
	nowFlag := fs.String("now", "", "the source's present, naive Pacific (2006-01-02T15:04:05); default: now. The same seed and --now give the same rows")
	if err := fs.Parse(args[1:]); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor testdata generate: %v\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor testdata generate", "fills SOURCE_DB with realistic COLIN test data", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if err := cfg.needSource("testdata generate"); err != nil {
				return err
			}
			pool, err := pg.Connect(ctx, cfg.Source.Value(), pg.WithStatementTimeout(time.Duration(cfg.SQLTimeout)*time.Second))
			if err != nil {
				return fmt.Errorf("SOURCE_DB: %w", err)
			}
			defer pool.Close()
			now := pacific.Now() // COLIN's clock
			if *nowFlag != "" {
				t, err := time.Parse("2006-01-02T15:04:05", *nowFlag)
				if err != nil {
					return fmt.Errorf("--now %q: want naive Pacific time as 2006-01-02T15:04:05", *nowFlag)
				}
				now = t
			}
			populated, err := testdata.Populated(ctx, pool)
			if err != nil {
				return err
			}
			switch {
			case *corps > 0 && populated:
				// Compose runs this job on every `up`: a generated source
				// is left as it is.
				env.Log.Info("SOURCE_DB already holds corporations: not generating", zap.Int("corps", *corps))
			case *corps > 0:
				// The history ends an hour ago, so events appended later
				// (--events) are newer than anything a run has seen.
				sum, err := testdata.Generate(ctx, pool, testdata.Options{Corps: *corps, Seed: *seed, Now: now.Add(-time.Hour)}, testdata.Progress(os.Stderr, "generate"))
				if err != nil {
					return err
				}
				env.Log.Info("test data generated", zap.Int("corps", sum.Corps), zap.Int("events", sum.Events), zap.Int64("max_event_id", sum.MaxEventID))
			}
			if *events > 0 {
				// Up to 30 s apart, ending by now where they can (so the next
				// run finds them), and never before the newest event a run
				// may have seen (which would be passed over).
				at := now.Add(-time.Duration(*events) * 30 * time.Second)
				if latest, err := testdata.LatestBefore(ctx, pool, now); err != nil {
					return err
				} else if latest.After(at) {
					at = latest.Add(time.Second)
				}
				sum, err := testdata.Events(ctx, pool, *events, *seed, at)
				if err != nil {
					return err
				}
				env.Log.Info("events appended", zap.Int("events", sum.Events), zap.Int64("max_event_id", sum.MaxEventID))
			}
			return nil
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}
