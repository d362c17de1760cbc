// Package index is the archive's PostgreSQL side: one row per stored
// message, unique by uuid and by (topic, partition, offset), plus recent
// errors. Rows go in with COPY, a batch at a time.
package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
	"tributary.dev/services/topic-archiver/internal/store"
	"tributary.dev/services/topic-archiver/migrations"
)

// Row is one archived message's index entry.
type Row struct {
	UUID       store.UUID
	Topic      string
	Partition  int32
	Offset     int64
	Time       time.Time
	Bucket     string
	Key        string
	ByteOffset int64
	ByteLength int64
	Size       int
	SHA256     []byte
	Headers    map[string][]string
}

// Index is the archive's database.
type Index struct{ pool *pgxpool.Pool }

// New uses pool; call Migrate first.
func New(pool *pgxpool.Pool) *Index { return &Index{pool: pool} }

// Pool is the pool, for utilities.
func (ix *Index) Pool() *pgxpool.Pool { return ix.pool }

// Migrate creates or updates the index tables.
func (ix *Index) Migrate(ctx context.Context) error {
	return pg.Migrate(ctx, ix.pool, "topic-archiver", migrations.FS)
}

// Ping is a readiness check.
func (ix *Index) Ping(ctx context.Context) error { return ix.pool.Ping(ctx) }

// Ref names a message by where it was in Kafka.
type Ref struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Known reports which of refs and ids are already archived, in one query
// for the whole batch's places and one for its ids, if it has any.
func (ix *Index) Known(ctx context.Context, refs []Ref, ids []store.UUID) (map[Ref]bool, map[store.UUID]bool, error) {
	topics := make([]string, len(refs))
	parts := make([]int32, len(refs))
	offs := make([]int64, len(refs))
	for i, r := range refs {
		topics[i], parts[i], offs[i] = r.Topic, r.Partition, r.Offset
	}
	knownRefs := map[Ref]bool{}
	rows, err := ix.pool.Query(ctx, `
		SELECT a.topic, a.partition, a."offset" FROM archive_messages a
		JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS b(topic, partition, "offset")
		  ON a.topic = b.topic AND a.partition = b.partition AND a."offset" = b."offset"`, topics, parts, offs)
	if err != nil {
		return nil, nil, fmt.Errorf("look up archived offsets: %w", err)
	}
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.Topic, &r.Partition, &r.Offset); err != nil {
			return nil, nil, err
		}
		knownRefs[r] = true
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	knownIDs := map[store.UUID]bool{}
	if len(ids) == 0 {
		return knownRefs, knownIDs, nil
	}
	uu := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		uu[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	rows, err = ix.pool.Query(ctx, `SELECT uuid FROM archive_messages WHERE uuid = ANY($1::uuid[])`, uu)
	if err != nil {
		return nil, nil, fmt.Errorf("look up archived ids: %w", err)
	}
	for rows.Next() {
		var u pgtype.UUID
		if err := rows.Scan(&u); err != nil {
			return nil, nil, err
		}
		knownIDs[u.Bytes] = true
	}
	return knownRefs, knownIDs, rows.Err()
}

var columns = []string{"uuid", "topic", "partition", "offset", "timestamp", "bucket", "key", "byte_offset", "byte_length", "size", "sha256", "headers"}

// Insert adds rows and returns the ids actually inserted; the rest were
// duplicates. Most batches hold none (the archiver looked them up first),
// so rows go straight in with COPY, the cheapest way in; a unique
// violation means another replica or an earlier life got some of them
// first, and the batch then goes through INSERT … ON CONFLICT DO NOTHING,
// which says which rows were new.
func (ix *Index) Insert(ctx context.Context, rows []Row) (map[store.UUID]bool, error) {
	inserted := map[store.UUID]bool{}
	if len(rows) == 0 {
		return inserted, nil
	}
	_, err := ix.pool.CopyFrom(ctx, pgx.Identifier{"archive_messages"}, columns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		return []any{pgtype.UUID{Bytes: r.UUID, Valid: true}, r.Topic, r.Partition, r.Offset, r.Time, r.Bucket, r.Key,
			r.ByteOffset, r.ByteLength, int32(r.Size), r.SHA256, r.Headers}, nil
	}))
	if err == nil {
		for _, r := range rows {
			inserted[r.UUID] = true
		}
		return inserted, nil
	}
	if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return nil, fmt.Errorf("index %d messages: %w", len(rows), err)
	}
	return ix.insertNew(ctx, rows)
}

// insertNew inserts rows in one statement — the batch sent as column
// arrays and unnested into INSERT … ON CONFLICT DO NOTHING — and returns
// the ids it inserted. Rows go in the order given (offset order within a
// partition), so two replicas inserting the same rows take their locks in
// the same order.
func (ix *Index) insertNew(ctx context.Context, rows []Row) (map[store.UUID]bool, error) {
	inserted := map[store.UUID]bool{}
	n := len(rows)
	var (
		uuids   = make([]pgtype.UUID, n)
		topics  = make([]string, n)
		parts   = make([]int32, n)
		offs    = make([]int64, n)
		times   = make([]time.Time, n)
		buckets = make([]string, n)
		keys    = make([]string, n)
		boffs   = make([]int64, n)
		blens   = make([]int64, n)
		sizes   = make([]int32, n)
		sums    = make([][]byte, n)
		headers = make([]string, n)
	)
	for i, r := range rows {
		uuids[i] = pgtype.UUID{Bytes: r.UUID, Valid: true}
		topics[i], parts[i], offs[i], times[i] = r.Topic, r.Partition, r.Offset, r.Time
		buckets[i], keys[i], boffs[i], blens[i], sizes[i], sums[i] = r.Bucket, r.Key, r.ByteOffset, r.ByteLength, int32(r.Size), r.SHA256
		headers[i] = "{}"
		if len(r.Headers) > 0 {
			h, err := json.Marshal(r.Headers)
			if err != nil {
				return nil, fmt.Errorf("index %s/%d@%d: headers: %w", r.Topic, r.Partition, r.Offset, err)
			}
			headers[i] = string(h)
		}
	}
	res, err := ix.pool.Query(ctx, `INSERT INTO archive_messages (`+pg.QuoteIdents(columns)+`)
		SELECT u, t, p, o, ts, b, k, bo, bl, sz, sh, h::jsonb
		FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::timestamptz[], $6::text[], $7::text[],
		            $8::bigint[], $9::bigint[], $10::int[], $11::bytea[], $12::text[]) AS x(u, t, p, o, ts, b, k, bo, bl, sz, sh, h)
		ON CONFLICT DO NOTHING RETURNING uuid`,
		uuids, topics, parts, offs, times, buckets, keys, boffs, blens, sizes, sums, headers)
	if err != nil {
		return nil, fmt.Errorf("index %d messages: %w", n, err)
	}
	defer res.Close()
	for res.Next() {
		var u pgtype.UUID
		if err := res.Scan(&u); err != nil {
			return nil, fmt.Errorf("index %d messages: %w", n, err)
		}
		inserted[u.Bytes] = true
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("index %d messages: %w", n, err)
	}
	return inserted, nil
}

// LogError keeps an error for `topic-archiver logs`; failing to log is
// itself only logged by the caller.
func (ix *Index) LogError(ctx context.Context, kind, topic string, partition int32, offset int64, msg string) error {
	_, err := ix.pool.Exec(ctx, `INSERT INTO archive_errors (kind, topic, partition, "offset", message) VALUES ($1, $2, $3, $4, $5)`,
		kind, topic, partition, offset, msg)
	return err
}

// pruneBatch is how many error rows one DELETE removes: the first prune
// after a long outage (or an upgrade) must not be one transaction holding
// millions of row locks.
const pruneBatch = 10_000

// PruneErrors deletes the error rows logged before cutoff and returns how
// many went. Each batch is its own statement, committed on its own like
// every other write here; one that fails leaves the rest for next time.
func (ix *Index) PruneErrors(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		tag, err := ix.pool.Exec(ctx, `DELETE FROM archive_errors WHERE id IN (
			SELECT id FROM archive_errors WHERE at < $1 ORDER BY at LIMIT $2)`, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune archive_errors before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

// TextHeaders keeps the UTF-8 headers of a record for filtering; binary
// ones stay in the BSON only.
func TextHeaders(hs []store.Header) map[string][]string {
	out := map[string][]string{}
	for _, h := range hs {
		// jsonb holds valid UTF-8 without NUL; anything else stays in the BSON.
		if string(h.Key) == store.IDHeader || !utf8.Valid(h.Key) || !utf8.Valid(h.Value) ||
			bytes.IndexByte(h.Key, 0) >= 0 || bytes.IndexByte(h.Value, 0) >= 0 {
			continue
		}
		out[string(h.Key)] = append(out[string(h.Key)], string(h.Value))
	}
	return out
}
