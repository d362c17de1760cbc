package testdata

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
)

func source(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pg.Connect(ctx, testkit.Postgres(t), pg.WithStatementTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func generate(t *testing.T, pool *pgxpool.Pool, o Options) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Generate(ctx, pool, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpeed(t *testing.T) {
	pool := source(t)
	start := time.Now()
	s := generate(t, pool, Options{Corps: 10_000, Seed: 1})
	el := time.Since(start)
	t.Logf("10,000 corps in %s (%.0f corps/s): %+v", el.Round(time.Millisecond), 10_000/el.Seconds(), s)
	if s.Corps != 10_000 {
		t.Fatalf("%d corps written, want 10000", s.Corps)
	}
}
