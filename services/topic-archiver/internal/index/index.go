// Package index is the archive's PostgreSQL side: one row per stored
// message, unique by uuid and by (topic, partition, offset), plus recent
// errors. Rows go in with COPY, a batch at a time.
package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
//
// Places are asked for as offset ranges per partition, not one by one: a
// batch's offsets of one partition come in runs, so the few ranges are a
// few index range scans where a join on every place was thousands of
// probes — PostgreSQL time on every batch, which the archiver waits for.
func (ix *Index) Known(ctx context.Context, refs []Ref, ids []store.UUID) (map[Ref]bool, map[store.UUID]bool, error) {
	want := make(map[Ref]bool, len(refs))
	for _, r := range refs {
		want[r] = true
	}
	spans := offsetSpans(refs)
	topics := make([]string, len(spans))
	parts := make([]int32, len(spans))
	los := make([]int64, len(spans))
	his := make([]int64, len(spans))
	for i, s := range spans {
		topics[i], parts[i], los[i], his[i] = s.topic, s.partition, s.lo, s.hi
	}
	knownRefs := map[Ref]bool{}
	rows, err := ix.pool.Query(ctx, `
		SELECT a.topic, a.partition, a."offset" FROM archive_messages a
		JOIN unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS b(topic, partition, lo, hi)
		  ON a.topic = b.topic AND a.partition = b.partition AND a."offset" BETWEEN b.lo AND b.hi`, topics, parts, los, his)
	if err != nil {
		return nil, nil, fmt.Errorf("look up archived offsets: %w", err)
	}
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.Topic, &r.Partition, &r.Offset); err != nil {
			return nil, nil, err
		}
		if want[r] { // a range can cover offsets the batch lacks
			knownRefs[r] = true
		}
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

// span is a run of offsets of one partition, lo to hi inclusive.
type span struct {
	topic     string
	partition int32
	lo, hi    int64
}

// spanGap is the widest hole inside one span: a wider one (compaction,
// a partition fetched again from far back) starts a new span, so a range
// never makes PostgreSQL read many rows the batch did not ask about.
const spanGap = 64

// offsetSpans covers refs with as few spans as spanGap allows.
func offsetSpans(refs []Ref) []span {
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(a, b Ref) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	var out []span
	for _, r := range sorted {
		if n := len(out); n > 0 && out[n-1].topic == r.Topic && out[n-1].partition == r.Partition && r.Offset-out[n-1].hi <= spanGap {
			out[n-1].hi = max(out[n-1].hi, r.Offset)
			continue
		}
		out = append(out, span{topic: r.Topic, partition: r.Partition, lo: r.Offset, hi: r.Offset})
	}
	return out
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
	data, err := copyBinary(rows)
	if err != nil {
		return nil, err
	}
	conn, err := ix.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("index %d messages: %w", len(rows), err)
	}
	_, err = pg.CopyFrom(ctx, conn.Conn().PgConn(), pg.QuoteIdent("archive_messages"), columns, "FORMAT binary", bytes.NewReader(data))
	conn.Release()
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

// copyBinary encodes rows as COPY's binary format, in the order of
// columns. pgx's CopyFrom makes the same bytes, but through an interface
// value and a type lookup per field and json.Marshal's reflection for
// every row's headers, which was a fifth of the archiver's own CPU; the
// row's shape never changes, so it is written out by hand here, and the
// index test holds every column to what went in.
func copyBinary(rows []Row) ([]byte, error) {
	const perRow = 2 + 12*4 + 16 + 4 + 8*4 + 4 + 32 + 1 + 2 // lengths, fixed fields, a sha256, "{}"
	buf := make([]byte, 0, len(copySignature)+8+len(rows)*(perRow+64)+2)
	buf = append(buf, copySignature...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags: no OIDs
	buf = binary.BigEndian.AppendUint32(buf, 0) // no header extension
	for _, r := range rows {
		headers := emptyHeaders
		if len(r.Headers) > 0 {
			h, err := json.Marshal(r.Headers)
			if err != nil {
				return nil, fmt.Errorf("index %s/%d@%d: headers: %w", r.Topic, r.Partition, r.Offset, err)
			}
			headers = h
		}
		if r.SHA256 == nil {
			return nil, fmt.Errorf("index %s/%d@%d: no sha256", r.Topic, r.Partition, r.Offset)
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(columns)))
		buf = appendField(buf, r.UUID[:])
		buf = appendField(buf, r.Topic)
		buf = appendInt4(buf, r.Partition)
		buf = appendInt8(buf, r.Offset)
		buf = appendInt8(buf, pgMicros(r.Time))
		buf = appendField(buf, r.Bucket)
		buf = appendField(buf, r.Key)
		buf = appendInt8(buf, r.ByteOffset)
		buf = appendInt8(buf, r.ByteLength)
		buf = appendInt4(buf, int32(r.Size))
		buf = appendField(buf, r.SHA256)
		// jsonb's binary form is a version byte, then the JSON text.
		buf = binary.BigEndian.AppendUint32(buf, uint32(1+len(headers)))
		buf = append(buf, 1)
		buf = append(buf, headers...)
	}
	return binary.BigEndian.AppendUint16(buf, 0xffff), nil // end of data
}

// copySignature opens every binary COPY stream.
const copySignature = "PGCOPY\n\xff\r\n\x00"

var emptyHeaders = []byte("{}")

func appendField[T string | []byte](buf []byte, v T) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
	return append(buf, v...)
}

func appendInt4(buf []byte, v int32) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 4)
	return binary.BigEndian.AppendUint32(buf, uint32(v))
}

func appendInt8(buf []byte, v int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(v))
}

// pgMicros is a timestamptz on the wire: microseconds since 2000-01-01 UTC.
func pgMicros(t time.Time) int64 {
	const unixToY2K = 946_684_800 * 1_000_000
	return t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - unixToY2K
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
	n, err := pg.DeleteInBatches(ctx, ix.pool, pruneBatch, `DELETE FROM archive_errors WHERE id IN (
		SELECT id FROM archive_errors WHERE at < $1 ORDER BY at LIMIT $2)`, cutoff)
	if err != nil {
		return n, fmt.Errorf("prune archive_errors before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// TextHeaders keeps the UTF-8 headers of a record for filtering; binary
// ones stay in the BSON only. With none it is nil (indexed as {}): most
// messages carry only their _id, and a map each is garbage to collect.
func TextHeaders(hs []store.Header) map[string][]string {
	var out map[string][]string
	for _, h := range hs {
		// jsonb holds valid UTF-8 without NUL; anything else stays in the BSON.
		if string(h.Key) == store.IDHeader || !utf8.Valid(h.Key) || !utf8.Valid(h.Value) ||
			bytes.IndexByte(h.Key, 0) >= 0 || bytes.IndexByte(h.Value, 0) >= 0 {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[string(h.Key)] = append(out[string(h.Key)], string(h.Value))
	}
	return out
}
