package archive

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/metrics"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/topic-archiver/internal/index"
)

// archive_errors must not only grow: rows older than ErrorRetention go,
// newer ones stay, and the prune runs at most once per PruneEvery.
func TestPruneErrors(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ix := index.New(pool)
	if err := ix.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logAt := func(age time.Duration, msg string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO archive_errors (at, kind, message) VALUES (now() - $1 * interval '1 second', 's3', $2)`, age.Seconds(), msg); err != nil {
			t.Fatal(err)
		}
	}
	left := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT message FROM archive_errors ORDER BY message`)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	for _, r := range []struct {
		age time.Duration
		msg string
	}{{40 * 24 * time.Hour, "old-1"}, {31 * 24 * time.Hour, "old-2"}, {400 * 24 * time.Hour, "old-3"},
		{29 * 24 * time.Hour, "recent-1"}, {time.Hour, "recent-2"}, {0, "recent-3"}} {
		logAt(r.age, r.msg)
	}
	a := New(Config{ErrorRetention: 30 * 24 * time.Hour, PruneEvery: time.Hour}, nil, ix, nil, zap.NewNop(), NewMetrics(metrics.New("topic-archiver")))
	now := time.Now()
	a.pruneErrors(ctx, now)
	if got := left(); len(got) != 3 || got[0] != "recent-1" || got[1] != "recent-2" || got[2] != "recent-3" {
		t.Fatalf("after pruning with 30 days' retention: %v, want the three recent rows", got)
	}
	// Within the interval nothing is pruned again; after it, it is.
	logAt(35*24*time.Hour, "old-4")
	a.pruneErrors(ctx, now.Add(59*time.Minute))
	if got := left(); len(got) != 4 {
		t.Fatalf("pruned again within the hour: %v", got)
	}
	a.pruneErrors(ctx, now.Add(61*time.Minute))
	if got := left(); len(got) != 3 || got[0] != "recent-1" {
		t.Fatalf("after the interval: %v, want the three recent rows", got)
	}
}

// A first prune over more rows than one batch deletes them all.
func TestPruneErrorsInBatches(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ix := index.New(pool)
	if err := ix.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO archive_errors (at, kind, message)
		SELECT now() - interval '60 days', 'postgres', 'old ' || g FROM generate_series(1, 25000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO archive_errors (kind, message) VALUES ('s3', 'recent')`); err != nil {
		t.Fatal(err)
	}
	n, err := ix.PruneErrors(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 25000 {
		t.Fatalf("pruned %d rows (%v), want 25000", n, err)
	}
	var left int
	var msg string
	if err := pool.QueryRow(ctx, `SELECT count(*), max(message) FROM archive_errors`).Scan(&left, &msg); err != nil || left != 1 || msg != "recent" {
		t.Fatalf("left %d rows, newest %q (%v); want only the recent one", left, msg, err)
	}
}
