// Package target is the loader's PostgreSQL side: its own tables, the
// entity tables deliveries go into, and the one transaction per delivery
// that holds the data, its loader_deliveries row and its notification.
package target

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/migrations"
)

// Target is a database deliveries load into.
type Target struct {
	pool *pgxpool.Pool
}

// New uses pool; call Migrate before anything else.
func New(pool *pgxpool.Pool) *Target { return &Target{pool: pool} }

// Migrate creates or updates the loader's own tables.
func (t *Target) Migrate(ctx context.Context) error {
	return pg.Migrate(ctx, t.pool, "s3-loader", migrations.FS)
}

// Ping is a readiness check.
func (t *Target) Ping(ctx context.Context) error { return t.pool.Ping(ctx) }

// lockPoll is how often a replica waiting for the loader lock asks again.
// Lock takes the advisory lock that lets one loader work on a source
// while another replica waits. It waits until the lock is free or ctx
// ends: pg.AdvisoryLock lifts the pool's statement timeout for the wait,
// since a replica waiting its turn behind a long delivery is not a
// statement that hangs.
func (t *Target) Lock(ctx context.Context, name string) (unlock func(), err error) {
	conn, err := t.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	unlockPG, err := pg.AdvisoryLock(ctx, conn, "s3-loader "+name)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("wait for the loader lock %q: %w", name, err)
	}
	return func() { unlockPG(); conn.Release() }, nil
}

// Markers returns, per table, where its applied (or skipped) deliveries
// end. It looks each table up by index (LATERAL … LIMIT 1) rather than
// aggregating the whole history, so it stays cheap as history grows.
func (t *Target) Markers(ctx context.Context, bucket string, tables []source.Table) (map[source.Table]source.Marker, error) {
	schemas := make([]string, len(tables))
	names := make([]string, len(tables))
	for i, tb := range tables {
		schemas[i], names[i] = tb.Schema, tb.Table
	}
	rows, err := t.pool.Query(ctx, `
		SELECT tb.s, tb.t, coalesce(l.key, ''), coalesce(c.key, ''), c.file_time
		FROM unnest($2::text[], $3::text[]) AS tb(s, t)
		LEFT JOIN LATERAL (
			SELECT max(key) AS key FROM loader_deliveries d
			WHERE d.schema_name = tb.s AND d.table_name = tb.t AND d.kind = 'load' AND d.bucket = $1
		) l ON true
		LEFT JOIN LATERAL (
			SELECT key, file_time FROM loader_deliveries d
			WHERE d.schema_name = tb.s AND d.table_name = tb.t AND d.kind = 'cdc' AND d.bucket = $1
			ORDER BY file_time DESC, key DESC LIMIT 1
		) c ON true`, bucket, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("read markers: %w", err)
	}
	out := map[source.Table]source.Marker{}
	for rows.Next() {
		var tb source.Table
		var m source.Marker
		var ts *time.Time
		if err := rows.Scan(&tb.Schema, &tb.Table, &m.LastLoadKey, &m.LastCDCKey, &ts); err != nil {
			return nil, err
		}
		if ts != nil {
			m.LastCDCTime = ts.UTC()
		}
		out[tb] = m
	}
	return out, rows.Err()
}

// DoneSince returns the keys of a table's CDC deliveries at or after
// since, so the late-arrival window can tell new files from applied ones.
func (t *Target) DoneSince(ctx context.Context, bucket string, tb source.Table, since time.Time) (map[string]bool, error) {
	rows, err := t.pool.Query(ctx, `
		SELECT key FROM loader_deliveries
		WHERE bucket = $1 AND schema_name = $2 AND table_name = $3 AND kind = 'cdc' AND file_time >= $4`,
		bucket, tb.Schema, tb.Table, since)
	if err != nil {
		return nil, fmt.Errorf("read applied deliveries of %s: %w", tb, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	done := make(map[string]bool, len(keys))
	for _, k := range keys {
		done[k] = true
	}
	return done, nil
}

// RecordSkipped records a bad file the operator chose to skip
// (ON_BAD_FILE=skip) with its reason, so the loader moves past it and the
// reason stays visible.
func (t *Target) RecordSkipped(ctx context.Context, bucket string, f source.File, targetTable, reason string) error {
	_, err := t.pool.Exec(ctx, `
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, file_time, size, status, reason, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'skipped', $10, now())
		ON CONFLICT (key) DO NOTHING`,
		f.Key, bucket, f.Schema, f.Table, targetTable, string(f.Kind), nullSeq(f), nullTime(f), f.Size, reason)
	if err != nil {
		return fmt.Errorf("record skipped %s: %w", f.Key, err)
	}
	return nil
}

func nullSeq(f source.File) *int {
	if f.Kind != source.Load {
		return nil
	}
	return &f.Seq
}

func nullTime(f source.File) *time.Time {
	if f.Kind != source.CDC {
		return nil
	}
	return &f.Time
}
