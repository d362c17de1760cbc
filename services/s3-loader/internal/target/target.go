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

// State is where a table's applied deliveries end, in its current
// generation (a reload starts the next).
type State struct {
	Generation int
	// CDCFrom, after a reload: change files stamped before it belong to
	// the snapshot the reload replaced.
	CDCFrom     time.Time
	LastLoadSeq int64  // the highest full-load number applied (0: none)
	LastCDCKey  string // the last change file applied ("" if none)
	LastCDCTime time.Time
}

// States returns, per table, where its deliveries end. It looks each
// table up by index (LATERAL … LIMIT 1) rather than aggregating the
// whole history, so it stays cheap as history grows.
func (t *Target) States(ctx context.Context, bucket string, tables []source.Table) (map[source.Table]State, error) {
	schemas := make([]string, len(tables))
	names := make([]string, len(tables))
	for i, tb := range tables {
		schemas[i], names[i] = tb.Schema, tb.Table
	}
	rows, err := t.pool.Query(ctx, `
		SELECT tb.s, tb.t, g.generation, g.cdc_from, coalesce(l.seq, 0), coalesce(c.key, ''), c.file_time
		FROM unnest($2::text[], $3::text[]) AS tb(s, t)
		CROSS JOIN LATERAL (
			SELECT coalesce((SELECT generation FROM loader_tables lt
			                 WHERE lt.bucket = $1 AND lt.schema_name = tb.s AND lt.table_name = tb.t), 1) AS generation,
			       (SELECT cdc_from FROM loader_tables lt
			        WHERE lt.bucket = $1 AND lt.schema_name = tb.s AND lt.table_name = tb.t) AS cdc_from
		) g
		LEFT JOIN LATERAL (
			SELECT max(file_seq) AS seq FROM loader_deliveries d
			WHERE d.schema_name = tb.s AND d.table_name = tb.t AND d.kind = 'load' AND d.bucket = $1 AND d.generation = g.generation
		) l ON true
		LEFT JOIN LATERAL (
			SELECT key, file_time FROM loader_deliveries d
			WHERE d.schema_name = tb.s AND d.table_name = tb.t AND d.kind = 'cdc' AND d.bucket = $1 AND d.generation = g.generation
			ORDER BY file_time DESC, key DESC LIMIT 1
		) c ON true`, bucket, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("read where tables stand: %w", err)
	}
	out := map[source.Table]State{}
	for rows.Next() {
		var tb source.Table
		var s State
		var from, last *time.Time
		if err := rows.Scan(&tb.Schema, &tb.Table, &s.Generation, &from, &s.LastLoadSeq, &s.LastCDCKey, &last); err != nil {
			return nil, err
		}
		if from != nil {
			s.CDCFrom = from.UTC()
		}
		if last != nil {
			s.LastCDCTime = last.UTC()
		}
		out[tb] = s
	}
	return out, rows.Err()
}

// Applied is a delivery file recorded in loader_deliveries.
type Applied struct {
	Key     string
	Seq     int64
	Size    int64
	Version string // the ETag (or modification time) it had
	Status  string // loaded or skipped
}

// AppliedLoads returns the full-load files of a table's generation, by
// number.
func (t *Target) AppliedLoads(ctx context.Context, bucket string, tb source.Table, generation int) (map[int64]Applied, error) {
	rows, err := t.pool.Query(ctx, `
		SELECT key, file_seq, size, coalesce(etag, ''), status FROM loader_deliveries
		WHERE bucket = $1 AND schema_name = $2 AND table_name = $3 AND kind = 'load' AND generation = $4`,
		bucket, tb.Schema, tb.Table, generation)
	if err != nil {
		return nil, fmt.Errorf("read applied full loads of %s: %w", tb, err)
	}
	out := map[int64]Applied{}
	err = collect(rows, func(a Applied) { out[a.Seq] = a })
	return out, err
}

// AppliedCDCSince returns a table's change files of a generation stamped
// at or after since, by key, so the late-arrival window can tell new
// files from applied ones (and a rewritten one from its first copy).
func (t *Target) AppliedCDCSince(ctx context.Context, bucket string, tb source.Table, generation int, since time.Time) (map[string]Applied, error) {
	rows, err := t.pool.Query(ctx, `
		SELECT key, 0::bigint, size, coalesce(etag, ''), status FROM loader_deliveries
		WHERE bucket = $1 AND schema_name = $2 AND table_name = $3 AND kind = 'cdc' AND generation = $4 AND file_time >= $5`,
		bucket, tb.Schema, tb.Table, generation, since)
	if err != nil {
		return nil, fmt.Errorf("read applied deliveries of %s: %w", tb, err)
	}
	out := map[string]Applied{}
	err = collect(rows, func(a Applied) { out[a.Key] = a })
	return out, err
}

// Recorded returns which of keys loader_deliveries holds in generation
// (any generation when it is 0): how the audit tells a file applied long
// ago from one that arrived late.
func (t *Target) Recorded(ctx context.Context, bucket string, keys []string, generation int) (map[string]bool, error) {
	out := map[string]bool{}
	for len(keys) > 0 {
		n := min(len(keys), 5000)
		rows, err := t.pool.Query(ctx, `
			SELECT DISTINCT key FROM loader_deliveries
			WHERE bucket = $1 AND key = ANY($2) AND ($3 = 0 OR generation = $3)`, bucket, keys[:n], generation)
		if err != nil {
			return nil, fmt.Errorf("look up recorded deliveries: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, k := range found {
			out[k] = true
		}
		keys = keys[n:]
	}
	return out, nil
}

func collect(rows pgx.Rows, fn func(Applied)) error {
	defer rows.Close()
	for rows.Next() {
		var a Applied
		if err := rows.Scan(&a.Key, &a.Seq, &a.Size, &a.Version, &a.Status); err != nil {
			return err
		}
		fn(a)
	}
	return rows.Err()
}

// RecordSkipped records a bad file the operator chose to skip
// (ON_BAD_FILE=skip) with its reason, so the loader moves past it and the
// reason stays visible.
func (t *Target) RecordSkipped(ctx context.Context, bucket string, f source.File, generation int, targetTable, reason string) error {
	_, err := t.pool.Exec(ctx, `
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, file_time, size, etag, generation, status, reason, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'skipped', $12, now())
		ON CONFLICT (bucket, key, generation) DO NOTHING`,
		f.Key, bucket, f.Schema, f.Table, targetTable, string(f.Kind), nullSeq(f), nullTime(f), f.Size, f.Version(), generation, reason)
	if err != nil {
		return fmt.Errorf("record skipped %s: %w", f.Key, err)
	}
	return nil
}

func nullSeq(f source.File) *int64 {
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
