// Package index is the archive's PostgreSQL side: one row per stored
// message, unique by where it was in Kafka — topic, partition, offset and
// the topic's id — plus recent errors, the topics' ids, clean-duplicates'
// key claims and the announcements outbox. Rows go in with COPY, a batch
// at a time.
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
	TopicID    store.UUID // zero: unknown (rows from before ids were kept)
	Partition  int32
	Offset     int64
	Time       time.Time
	Bucket     string
	Key        string
	ByteOffset int64
	ByteLength int64
	Size       int
	SHA256     []byte
	// PayloadSHA256 is store.PayloadSum of the value; nil for rows from
	// before it was kept.
	PayloadSHA256 []byte
	Headers       map[string][]string
}

// Place is where a message was: the primary key.
type Place struct {
	Topic     string
	TopicID   store.UUID
	Partition int32
	Offset    int64
}

// Place is the row's place.
func (r Row) Place() Place { return Place{r.Topic, r.TopicID, r.Partition, r.Offset} }

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

// AtPlace is an archived message found at an asked place: which topic
// id it was archived under, and its document's hash.
type AtPlace struct {
	TopicID store.UUID
	SHA256  []byte
}

// IDAsk is a producer's _id and the payload hash of the message that
// carries it.
type IDAsk struct {
	ID      store.UUID
	Payload [32]byte
}

// WithID is what the index holds under an asked _id: whether a message
// with the same payload is archived (Same), whether one with another is
// (Other), and a row from before payload hashes were kept, whose document
// must be read to tell (Legacy; uuids were unique then, so there is at
// most one).
type WithID struct {
	Same, Other bool
	Legacy      *LegacyRow
}

// LegacyRow is where an archived document without a payload hash is.
type LegacyRow struct {
	Key        string
	ByteOffset int64
	ByteLength int64
}

// Archived is what Known found.
type Archived struct {
	Places map[Ref][]AtPlace
	IDs    map[IDAsk]WithID
}

// Known reports what the index holds at refs (under any topic id) and
// under ids, in one query for the whole batch's places and one for its
// ids, if it has any.
//
// Places are asked for as offset ranges per partition, not one by one: a
// batch's offsets of one partition come in runs, so the few ranges are a
// few index range scans where a join on every place was thousands of
// probes — PostgreSQL time on every batch, which the archiver waits for.
func (ix *Index) Known(ctx context.Context, refs []Ref, ids []IDAsk) (Archived, error) {
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
	k := Archived{Places: map[Ref][]AtPlace{}, IDs: map[IDAsk]WithID{}}
	rows, err := ix.pool.Query(ctx, `
		SELECT a.topic, a.partition, a."offset", a.topic_id, a.sha256 FROM archive_messages a
		JOIN unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS b(topic, partition, lo, hi)
		  ON a.topic = b.topic AND a.partition = b.partition AND a."offset" BETWEEN b.lo AND b.hi`, topics, parts, los, his)
	if err != nil {
		return k, fmt.Errorf("look up archived offsets: %w", err)
	}
	for rows.Next() {
		var r Ref
		var id pgtype.UUID
		var sum []byte
		if err := rows.Scan(&r.Topic, &r.Partition, &r.Offset, &id, &sum); err != nil {
			return k, err
		}
		if want[r] { // a range can cover offsets the batch lacks
			k.Places[r] = append(k.Places[r], AtPlace{TopicID: id.Bytes, SHA256: sum})
		}
	}
	if err := rows.Err(); err != nil {
		return k, err
	}
	if len(ids) == 0 {
		return k, nil
	}
	uu := make([]pgtype.UUID, len(ids))
	pp := make([][]byte, len(ids))
	for i, a := range ids {
		uu[i] = pgtype.UUID{Bytes: a.ID, Valid: true}
		pp[i] = a.Payload[:]
	}
	// Each probe is bounded by the (uuid, payload_sha256) index: a row
	// with the same payload, one other payload (the same message is never
	// stored twice, so at most one row holds the asked payload), a row
	// without one.
	rows, err = ix.pool.Query(ctx, `SELECT x.id, x.p,
		EXISTS (SELECT 1 FROM archive_messages a WHERE a.uuid = x.id AND a.payload_sha256 = x.p),
		EXISTS (SELECT 1 FROM archive_messages a WHERE a.uuid = x.id AND a.payload_sha256 <> x.p),
		l.key, l.byte_offset, l.byte_length
		FROM unnest($1::uuid[], $2::bytea[]) AS x(id, p)
		LEFT JOIN LATERAL (SELECT key, byte_offset, byte_length FROM archive_messages a
		                   WHERE a.uuid = x.id AND a.payload_sha256 IS NULL LIMIT 1) l ON true`, uu, pp)
	if err != nil {
		return k, fmt.Errorf("look up archived ids: %w", err)
	}
	for rows.Next() {
		var u pgtype.UUID
		var p []byte
		var w WithID
		var key *string
		var off, length *int64
		if err := rows.Scan(&u, &p, &w.Same, &w.Other, &key, &off, &length); err != nil {
			return k, err
		}
		if key != nil {
			w.Legacy = &LegacyRow{Key: *key, ByteOffset: *off, ByteLength: *length}
		}
		ask := IDAsk{ID: u.Bytes}
		copy(ask.Payload[:], p)
		k.IDs[ask] = w
	}
	return k, rows.Err()
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

var columns = []string{"uuid", "topic", "topic_id", "partition", "offset", "timestamp", "bucket", "key", "byte_offset", "byte_length", "size", "sha256", "payload_sha256", "headers"}

// ClaimedError says that clean-duplicates is deleting objects some rows
// point at: the objects must be written again once it has, then indexed.
type ClaimedError struct{ Keys []string }

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("%d object keys are being deleted by clean-duplicates (first %s): writing them again", len(e.Keys), e.Keys[0])
}

// claimLock is the advisory lock that orders index inserts (shared) and
// clean-duplicates' claims (exclusive): a claim is taken only when no row
// points at the key, and rows go in only for keys nobody has claimed.
var claimLock = pg.LockKey("topic-archiver key claims")

// claimTTL is how long a claim holds: clean-duplicates deletes an object
// within a minute of claiming it, so an older claim is one it left behind
// when it died, and is not honoured.
const claimTTL = 10 * time.Minute

// Announce makes the outbox entry for the rows an insert added (nil: none).
type Announce func(inserted []Row) ([]byte, error)

// Insert adds rows in one transaction, with the outbox entry announce
// makes of those that were new, and returns the places it inserted; the
// rest were already there (duplicates). Most batches hold none (the
// archiver looked them up first), so rows go straight in with COPY, the
// cheapest way in; a unique violation means another replica or an earlier
// life got some of them first, and the batch then goes through INSERT …
// ON CONFLICT DO NOTHING, which says which rows were new. If
// clean-duplicates has claimed one of the rows' keys, nothing is inserted
// and the error is a *ClaimedError.
func (ix *Index) Insert(ctx context.Context, rows []Row, announce Announce) (map[Place]bool, error) {
	if len(rows) == 0 {
		return map[Place]bool{}, nil
	}
	inserted, err := ix.insert(ctx, rows, announce, true)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
		inserted, err = ix.insert(ctx, rows, announce, false)
	}
	if err != nil {
		if ce := (*ClaimedError)(nil); errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("index %d messages: %w", len(rows), err)
	}
	return inserted, nil
}

func (ix *Index) insert(ctx context.Context, rows []Row, announce Announce, useCopy bool) (map[Place]bool, error) {
	var data []byte
	if useCopy {
		var err error
		if data, err = copyBinary(rows); err != nil {
			return nil, err
		}
	}
	tx, err := ix.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	keys := make([]string, 0, 1)
	for i, r := range rows {
		if i == 0 || r.Key != rows[i-1].Key {
			keys = append(keys, r.Key)
		}
	}
	var claimed []string
	err = tx.QueryRow(ctx, `SELECT ARRAY(SELECT key FROM archive_key_claims WHERE key = ANY($2) AND claimed_at > now() - $3::interval)
		FROM (SELECT pg_advisory_xact_lock_shared($1)) AS l`, claimLock, keys, claimTTL.String()).Scan(&claimed)
	if err != nil {
		return nil, fmt.Errorf("check key claims: %w", err)
	}
	if len(claimed) > 0 {
		return nil, &ClaimedError{Keys: claimed}
	}
	var inserted map[Place]bool
	var added []Row
	if useCopy {
		if _, err := pg.CopyFrom(ctx, tx.Conn().PgConn(), pg.QuoteIdent("archive_messages"), columns, "FORMAT binary", bytes.NewReader(data)); err != nil {
			return nil, err
		}
		inserted = make(map[Place]bool, len(rows))
		for _, r := range rows {
			inserted[r.Place()] = true
		}
		added = rows
	} else {
		if inserted, err = insertNew(ctx, tx, rows); err != nil {
			return nil, err
		}
		for _, r := range rows {
			if inserted[r.Place()] {
				added = append(added, r)
			}
		}
	}
	if announce != nil && len(added) > 0 {
		events, err := announce(added)
		if err != nil {
			return nil, err
		}
		if events != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO archive_outbox (events) VALUES ($1::json)`, string(events)); err != nil {
				return nil, fmt.Errorf("outbox: %w", err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return inserted, nil
}

// copyBinary encodes rows as COPY's binary format, in the order of
// columns. pgx's CopyFrom makes the same bytes, but through an interface
// value and a type lookup per field and json.Marshal's reflection for
// every row's headers, which was a fifth of the archiver's own CPU; the
// row's shape never changes, so it is written out by hand here, and the
// index test holds every column to what went in.
func copyBinary(rows []Row) ([]byte, error) {
	const perRow = 2 + 14*4 + 16 + 16 + 4 + 8*4 + 4 + 32 + 32 + 1 + 2 // lengths, fixed fields, two sha256s, "{}"
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
		buf = appendField(buf, r.TopicID[:])
		buf = appendInt4(buf, r.Partition)
		buf = appendInt8(buf, r.Offset)
		buf = appendInt8(buf, pgMicros(r.Time))
		buf = appendField(buf, r.Bucket)
		buf = appendField(buf, r.Key)
		buf = appendInt8(buf, r.ByteOffset)
		buf = appendInt8(buf, r.ByteLength)
		buf = appendInt4(buf, int32(r.Size))
		buf = appendField(buf, r.SHA256)
		if r.PayloadSHA256 == nil {
			buf = binary.BigEndian.AppendUint32(buf, 0xffffffff) // NULL
		} else {
			buf = appendField(buf, r.PayloadSHA256)
		}
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
// the places it inserted. Rows go in the order given (offset order within
// a partition), so two replicas inserting the same rows take their locks
// in the same order.
func insertNew(ctx context.Context, tx pgx.Tx, rows []Row) (map[Place]bool, error) {
	inserted := map[Place]bool{}
	n := len(rows)
	var (
		uuids    = make([]pgtype.UUID, n)
		topics   = make([]string, n)
		topicIDs = make([]pgtype.UUID, n)
		parts    = make([]int32, n)
		offs     = make([]int64, n)
		times    = make([]time.Time, n)
		buckets  = make([]string, n)
		keys     = make([]string, n)
		boffs    = make([]int64, n)
		blens    = make([]int64, n)
		sizes    = make([]int32, n)
		sums     = make([][]byte, n)
		payloads = make([][]byte, n)
		headers  = make([]string, n)
	)
	for i, r := range rows {
		uuids[i] = pgtype.UUID{Bytes: r.UUID, Valid: true}
		topicIDs[i] = pgtype.UUID{Bytes: r.TopicID, Valid: true}
		topics[i], parts[i], offs[i], times[i] = r.Topic, r.Partition, r.Offset, r.Time
		buckets[i], keys[i], boffs[i], blens[i], sizes[i], sums[i] = r.Bucket, r.Key, r.ByteOffset, r.ByteLength, int32(r.Size), r.SHA256
		payloads[i] = r.PayloadSHA256
		headers[i] = "{}"
		if len(r.Headers) > 0 {
			h, err := json.Marshal(r.Headers)
			if err != nil {
				return nil, fmt.Errorf("index %s/%d@%d: headers: %w", r.Topic, r.Partition, r.Offset, err)
			}
			headers[i] = string(h)
		}
	}
	res, err := tx.Query(ctx, `INSERT INTO archive_messages (`+pg.QuoteIdents(columns)+`)
		SELECT u, t, ti, p, o, ts, b, k, bo, bl, sz, sh, ps, h::jsonb
		FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::bigint[], $6::timestamptz[], $7::text[], $8::text[],
		            $9::bigint[], $10::bigint[], $11::int[], $12::bytea[], $13::bytea[], $14::text[]) AS x(u, t, ti, p, o, ts, b, k, bo, bl, sz, sh, ps, h)
		ON CONFLICT DO NOTHING RETURNING topic, topic_id, partition, "offset"`,
		uuids, topics, topicIDs, parts, offs, times, buckets, keys, boffs, blens, sizes, sums, payloads, headers)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for res.Next() {
		var p Place
		var id pgtype.UUID
		if err := res.Scan(&p.Topic, &id, &p.Partition, &p.Offset); err != nil {
			return nil, err
		}
		p.TopicID = id.Bytes
		inserted[p] = true
	}
	return inserted, res.Err()
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
