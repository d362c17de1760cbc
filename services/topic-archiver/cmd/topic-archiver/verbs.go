package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/setup"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/tools"
	"tributary.dev/services/topic-archiver/migrations"
)

// schemaVerbs change the index, so they bring its schema up to date first
// (as the archiver itself does). Every other verb only reads the index —
// or does not touch it — and must not change the schema of a database
// that an archiver of another version may be running on.
var schemaVerbs = map[string]bool{"clean-tests": true, "clean-duplicates": true}

// splitVerb takes the verb off the command line: `topic-archiver` and
// `topic-archiver --help` are the archiver itself ("run").
func splitVerb(args []string) (string, []string) {
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "run", args
}

// verbOptions tells setup where --help is asked for (a verb's own --help
// is its flag set's) and keeps the metrics server to the archiver: a
// utility run beside it must not fight over METRICS_ADDR.
func verbOptions(verb string, args []string) []setup.Option {
	opts := []setup.Option{setup.MoreHelp(func(w io.Writer) {
		fmt.Fprintln(w, "\nVerbs (topic-archiver VERB --help for each):")
		tools.PrintVerbs(w)
	})}
	switch verb {
	case "run":
		return append(opts, setup.Args(args))
	case "help":
		return append(opts, setup.Args([]string{"--help"}))
	default:
		return append(opts, setup.Args(nil), setup.WithoutServer())
	}
}

// runVerb opens what a utility needs and runs it. connect reports every
// dependency itself, so for it an unreachable one is not an error here.
func runVerb(ctx context.Context, cfg *Config, env *setup.Env, verb string, args []string) error {
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	meta, err := cfg.metaClient()
	if err != nil {
		return err
	}
	env.OnClose("kafka metadata client", meta.Close)
	var schema fs.FS
	if schemaVerbs[verb] {
		schema = migrations.FS
	}
	var ix *index.Index
	pool, err := env.Postgres(ctx, cfg.Target.Value(), schema, "topic-archiver")
	switch {
	case err == nil:
		if schema == nil && verb != "connect" {
			if err := requireIndex(ctx, pool); err != nil {
				return err
			}
		}
		ix = index.New(pool)
	case verb != "connect":
		return fmt.Errorf("TARGET: %w", err)
	}
	store, err := env.Store(ctx, cfg.S3)
	if err != nil {
		return fmt.Errorf("S3: %w", err)
	}
	// natsErr is the NATS connection's own error and nothing else's:
	// connect prints it as the NATS line.
	var bus *natsbus.Bus
	var natsErr error
	if !cfg.NATS.IsZero() {
		if bus, natsErr = env.NATS(ctx, cfg.NATS.Value()); natsErr != nil && verb != "connect" {
			return natsErr
		}
	}
	te := &tools.Env{Out: os.Stdout, Log: env.Log, Index: ix, Store: store, Bus: bus, NATSErr: natsErr,
		Brokers: cfg.Brokers, Dialer: dialer, Meta: meta, Root: cfg.S3.Path, TestTopic: cfg.TestTopic, Selector: cfg.archiveConfig(dialer, meta).Topics}
	return tools.Run(ctx, te, verb, args)
}

// requireIndex fails a read-only verb on a database the archiver has
// never run against, saying so, instead of creating the tables.
func requireIndex(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('archive_messages') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("TARGET: look for the archive index: %w", err)
	}
	if !exists {
		return fmt.Errorf("TARGET: no archive index in this database (the archiver creates it when it first runs)")
	}
	return nil
}
