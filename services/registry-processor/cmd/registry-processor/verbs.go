package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/internal/poster"
	"tributary.dev/services/registry-processor/internal/status"
	"tributary.dev/services/registry-processor/internal/testdata"
	"tributary.dev/services/registry-processor/internal/verify"
)

// runMain is the service: a run every MIN_SLEEP..MAX_SLEEP seconds.
func runMain(args []string) {
	var cfg Config
	setup.Main("registry-processor", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		s, err := build(ctx, &cfg, env, needs{migrate: true, source: true, poster: true, writes: true})
		if err != nil {
			return err
		}
		s.serveStatus()
		return runner.Run(ctx, env.Runner(), env.Log, func(ctx context.Context) error {
			return s.lock.run(ctx, s.pipe.Run)
		})
	}, setup.Args(args), setup.MoreHelp(verbs))
}

func migrateMain(args []string) {
	var cfg Config
	setup.Main("registry-processor migrate", "creates the event-processor tables, or accepts the original's", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if _, err := build(ctx, &cfg, env, needs{migrate: true}); err != nil {
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
			s, err := build(ctx, &cfg, env, needs{migrate: true, source: true, writes: true})
			if err != nil {
				return err
			}
			work, cancel := runner.WorkContext(ctx, time.Duration(cfg.ShutdownWait)*time.Second)
			defer cancel()
			return s.lock.run(work, func(ctx context.Context) error {
				rec := s.pipe.Begin(ctx, "initial-load")
				found, err := s.pipe.InitialLoad(ctx)
				if err != nil {
					rec.End(ctx, 0, 0, poster.Stats{}, "", err)
					return err
				}
				env.Log.Info("corporations queued", zap.Int("corps", found.Corps), zap.Int64("to_event", found.To.EventID), zap.Duration("took", time.Since(rec.Started)))
				proc, err := s.pipe.ProcessQueue(ctx)
				rec.End(ctx, proc.Corps, proc.Credentials, poster.Stats{}, "", err)
				env.Log.Info("initial load done", zap.Int("corps", proc.Corps), zap.Int("credentials", proc.Credentials),
					zap.Int("skipped", proc.Skipped), zap.Int("failed", proc.Failed), zap.Duration("took", time.Since(rec.Started)))
				return err
			})
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

func postMain(args []string) {
	fs := flag.NewFlagSet("post", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	unconfirmed := fs.Bool("unconfirmed", false, "also send the credentials held as unconfirmed again")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor post: %v (usage: registry-processor post [--unconfirmed])\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor post", "posts the credentials waiting in credential_log", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := build(ctx, &cfg, env, needs{migrate: true, poster: true, writes: true, resend: *unconfirmed})
			if err != nil {
				return err
			}
			if *unconfirmed {
				held, err := s.db.Unconfirmed(ctx)
				if err != nil {
					return err
				}
				env.Log.Warn("sending the credentials held as unconfirmed again: the controller may have issued some of them already",
					zap.Int("credentials", len(held)))
			}
			work, cancel := runner.WorkContext(ctx, time.Duration(cfg.ShutdownWait)*time.Second)
			defer cancel()
			return s.lock.run(work, func(ctx context.Context) error {
				rec := s.pipe.Begin(ctx, "post")
				st, err := s.pipe.Post(ctx)
				note := ""
				if *unconfirmed {
					note = fmt.Sprintf("--unconfirmed: %d sent again", st.Resent)
				}
				rec.End(ctx, 0, 0, st, note, err)
				env.Log.Info("posting done", zap.Int("posted", st.Success), zap.Int("failed", st.Failed), zap.Int("retried", st.Retried),
					zap.Int("unconfirmed", st.Unconfirmed+st.Orphaned), zap.Int("resent", st.Resent), zap.Duration("took", st.Elapsed))
				return err
			})
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// statusMain only reads: it neither migrates nor writes, so a read-only
// role will do.
func statusMain(args []string) {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor status: %v (usage: registry-processor status [--json])\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor status", "per table: processed, outstanding, errors, recent errors; what is held; the lag", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := build(ctx, &cfg, env, needs{})
			if err != nil {
				return err
			}
			opt := s.statusOptions()
			opt.Probes.Lock = nil // this process holds nothing
			snap, err := status.Take(ctx, s.db, opt)
			if err != nil {
				return err
			}
			if *asJSON {
				return status.JSON(os.Stdout, snap)
			}
			return status.Text(os.Stdout, snap)
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// requeueMain does not migrate: it only updates and inserts queue and
// credential rows.
func requeueMain(args []string) {
	fs := flag.NewFlagSet("requeue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	failed := fs.Bool("failed", false, "queue the failed corps again and reset failed credentials")
	corp := fs.String("corp", "", "this corp: with --failed, only its failures; alone, queue it again whatever it came to")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor requeue: %v (usage: registry-processor requeue --failed [--corp N] | --corp N)\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("registry-processor requeue", "queues failed corps again and resets failed credentials, or queues one corp again", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if !*failed && *corp == "" {
				return errors.New("requeue: say what: --failed (rows with process_success N), --corp N (one corp, whatever it came to), or both")
			}
			s, err := build(ctx, &cfg, env, needs{})
			if err != nil {
				return err
			}
			if *failed {
				q, c, err := s.db.RequeueFailed(ctx, *corp)
				if err != nil {
					return err
				}
				fmt.Printf("requeued: %d queue rows, %d credentials\n", q, c)
				return nil
			}
			c, err := s.db.RequeueCorp(ctx, *corp)
			if err != nil {
				return err
			}
			fmt.Printf("requeued: corp %s (its whole history), %d failed credentials\n", *corp, c)
			return nil
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// verifyMain regenerates credentials from the source and compares them
// with credential_log: a diff, and nothing changed (it neither migrates
// nor writes). Exit 1 when anything differs.
func verifyMain(args []string) {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	corps := fs.String("corp", "", "corp numbers, comma separated")
	from := fs.String("from", "", "first corp number of a range (by corp_num)")
	to := fs.String("to", "", "last corp number of a range")
	all := fs.Bool("all", false, "every corp of the source")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "registry-processor verify: %v (usage: registry-processor verify --corp N[,N…] | --from A [--to B] | --all)\n", err)
		os.Exit(2)
	}
	var cfg Config
	differs := false
	setup.Main("registry-processor verify", "regenerates credentials from SOURCE_DB and compares them with credential_log, changing nothing", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			sel := verify.Selection{From: *from, To: *to}
			for _, c := range strings.Split(*corps, ",") {
				if c = strings.TrimSpace(c); c != "" {
					sel.Corps = append(sel.Corps, c)
				}
			}
			if len(sel.Corps) == 0 && sel.From == "" && sel.To == "" && !*all {
				return errors.New("verify: say which corps: --corp N[,N…], --from A [--to B], or --all")
			}
			s, err := build(ctx, &cfg, env, needs{source: true})
			if err != nil {
				return err
			}
			v := &verify.Verifier{Src: s.src, DB: s.db, Dates: cfg.rules()}
			sum, err := v.Run(ctx, sel, os.Stdout)
			if err != nil {
				return err
			}
			fmt.Printf("verify: %d corps, %d credentials regenerated; %d corps differ: %d credentials would be issued (%d of them change a logged one), %d only in credential_log, %d corps cannot be generated\n",
				sum.Corps, sum.Regenerated, sum.Differ, sum.New, sum.Changed, sum.OnlyLogged, sum.Unloadable)
			differs = !sum.Clean()
			return nil
		}, setup.Args(fs.Args()), setup.WithoutServer(), setup.MoreHelp(verbs))
	if differs {
		os.Exit(1)
	}
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
