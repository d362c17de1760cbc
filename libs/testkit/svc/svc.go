// Package svc sets up the real dependencies a service's tests share — an
// S3 bucket, a migrated PostgreSQL pool, a NATS server — in one call, each
// torn down when the test ends. It lives apart from testkit because it
// opens them with libs/blob and libs/pg, whose own tests use testkit.
package svc

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
)

// Options says which dependencies a test needs.
type Options struct {
	// S3 starts a versitygw server with a fresh bucket and opens it.
	S3 bool
	// BucketPath is the bucket_path services read and write below
	// ("dms", "archive"); keys are built with Env.Bucket.Join.
	BucketPath string
	// Postgres creates a fresh database and opens a pool on it.
	Postgres bool
	// Migrations, when set with Postgres, are applied to the database as
	// the service applies them at start (pg.Migrate under Service's lock).
	Migrations fs.FS
	Service    string
	// NATS starts an embedded nats-server with JetStream.
	NATS bool
}

// Env is what New set up. Fields of dependencies not asked for are zero.
type Env struct {
	Bucket config.Bucket // with Path = Options.BucketPath
	Store  blob.Store
	DSN    string
	Pool   *pgxpool.Pool
	NATS   string // client URL
}

// setupTimeout bounds the set-up's network calls, so an unreachable
// server fails the test instead of hanging it.
const setupTimeout = time.Minute

// New starts what opt asks for and registers its teardown with
// t.Cleanup. A dependency that cannot be reached fails the test with how
// to start it (testkit's messages); it never skips.
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	e := &Env{}
	if opt.S3 {
		e.Bucket = testkit.S3(t)
		e.Bucket.Path = opt.BucketPath
		store, err := blob.Open(ctx, e.Bucket)
		if err != nil {
			t.Fatalf("svc: open bucket %s: %v", e.Bucket.Name, err)
		}
		e.Store = store
	}
	if opt.Postgres {
		e.DSN = testkit.Postgres(t)
		pool, err := pg.Connect(ctx, e.DSN)
		if err != nil {
			t.Fatalf("svc: %v", err)
		}
		// Registered after testkit.Postgres's drop, so it runs before it:
		// the pool is closed before its database goes.
		t.Cleanup(pool.Close)
		if opt.Migrations != nil {
			if opt.Service == "" {
				t.Fatal("svc: Options.Migrations needs Options.Service (the name migrations are recorded under)")
			}
			if err := pg.Migrate(ctx, pool, opt.Service, opt.Migrations); err != nil {
				t.Fatalf("svc: migrate %s: %v", opt.Service, err)
			}
		}
		e.Pool = pool
	} else if opt.Migrations != nil {
		t.Fatal("svc: Options.Migrations needs Options.Postgres")
	}
	if opt.NATS {
		e.NATS = testkit.NATS(t)
	}
	return e
}
