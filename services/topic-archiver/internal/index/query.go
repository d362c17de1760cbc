package index

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tributary.dev/services/topic-archiver/internal/store"
)

const rowColumns = `uuid, topic, topic_id, partition, "offset", timestamp, bucket, key, byte_offset, byte_length, size, sha256, payload_sha256`

func scanRow(r pgx.CollectableRow) (Row, error) {
	var row Row
	var u, tid pgtype.UUID
	var size int32
	err := r.Scan(&u, &row.Topic, &tid, &row.Partition, &row.Offset, &row.Time, &row.Bucket, &row.Key, &row.ByteOffset, &row.ByteLength, &size, &row.SHA256, &row.PayloadSHA256)
	row.UUID, row.TopicID, row.Size = u.Bytes, tid.Bytes, int(size)
	return row, err
}

// Lookup finds the messages carrying an _id: usually one, but an _id is
// the producer's and may have been reused. They come in the order they
// were stored.
func (ix *Index) Lookup(ctx context.Context, id store.UUID) ([]Row, error) {
	rows, err := ix.pool.Query(ctx, `SELECT `+rowColumns+` FROM archive_messages WHERE uuid = $1 ORDER BY stored_at, topic, partition, "offset"`,
		pgtype.UUID{Bytes: id, Valid: true})
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, scanRow)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no archived message with uuid %s", id)
	}
	return found, nil
}

// Filter selects messages; every field is bound as a parameter, never
// spliced into SQL.
type Filter struct {
	Topic   string
	Since   time.Time
	Until   time.Time
	Headers map[string]string
	Limit   int
	Order   Order
}

// Order is the order Select returns rows in.
// Within one order, a topic archived under several ids (deleted and
// created again) comes oldest id first.
type Order int

const (
	// ByTime is timestamp, then partition and offset: what an operator
	// listing a time range expects to read.
	ByTime Order = iota
	// ByOffset is partition, then offset: Kafka's own order. A replay
	// needs it, because timestamps may go backwards within a partition
	// (several producers, clock skew, producer-set timestamps) while
	// offsets never do.
	ByOffset
)

// orderBy is the ORDER BY clause of each Order; nothing else is spliced.
var orderBy = map[Order]string{
	ByTime:   `timestamp, partition, "offset", topic_id`,
	ByOffset: `partition, t.first_seen NULLS FIRST, "offset"`,
}

// where is f's WHERE clause and its arguments: every value a parameter.
// A LIMIT, if any, is the last argument.
func (f Filter) where() (string, []any) {
	where := []string{"true"}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Topic != "" {
		where = append(where, "topic = "+arg(f.Topic))
	}
	if !f.Since.IsZero() {
		where = append(where, "timestamp >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "timestamp < "+arg(f.Until))
	}
	for k, v := range f.Headers {
		where = append(where, "headers @> "+arg(map[string][]string{k: {v}}))
	}
	return strings.Join(where, " AND "), args
}

// Select streams matching rows to fn in f.Order.
func (ix *Index) Select(ctx context.Context, f Filter, fn func(Row) error) error {
	where, args := f.where()
	order, ok := orderBy[f.Order]
	if !ok {
		return fmt.Errorf("select archived messages: unknown order %d", f.Order)
	}
	// archive_topics orders a topic's ids by when each was first seen.
	sql := `SELECT ` + rowColumns + ` FROM archive_messages LEFT JOIN archive_topics t USING (topic, topic_id) WHERE ` + where + ` ORDER BY ` + order
	if f.Limit > 0 {
		args = append(args, f.Limit)
		sql += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := ix.pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanRow(rows)
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Largest is the byte length of the largest document f selects (its
// limit aside).
func (ix *Index) Largest(ctx context.Context, f Filter) (int, error) {
	where, args := f.where()
	var n int64
	if err := ix.pool.QueryRow(ctx, `SELECT coalesce(max(byte_length), 0) FROM archive_messages WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("size the selection: %w", err)
	}
	return int(n), nil
}

// TopicCount is one line of `list`.
type TopicCount struct {
	Topic        string
	Messages     int64
	First, Last  time.Time
	LastStoredAt time.Time
}

// Counts returns archive counts per topic.
func (ix *Index) Counts(ctx context.Context) ([]TopicCount, error) {
	rows, err := ix.pool.Query(ctx, `SELECT topic, count(*), min(timestamp), max(timestamp), max(stored_at) FROM archive_messages GROUP BY topic ORDER BY topic`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TopicCount, error) {
		var c TopicCount
		err := r.Scan(&c.Topic, &c.Messages, &c.First, &c.Last, &c.LastStoredAt)
		return c, err
	})
}

// PartitionState is the newest archived offset of a partition under one
// topic id.
type PartitionState struct {
	Topic      string
	TopicID    store.UUID
	Partition  int32
	MaxOffset  int64
	Messages   int64
	LastStored time.Time
}

// Partitions returns per-partition archive state, per topic id.
func (ix *Index) Partitions(ctx context.Context) ([]PartitionState, error) {
	rows, err := ix.pool.Query(ctx, `SELECT topic, topic_id, partition, max("offset"), count(*), max(stored_at) FROM archive_messages GROUP BY 1, 2, 3 ORDER BY 1, 3, 2`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartitionState, error) {
		var p PartitionState
		var id pgtype.UUID
		err := r.Scan(&p.Topic, &id, &p.Partition, &p.MaxOffset, &p.Messages, &p.LastStored)
		p.TopicID = id.Bytes
		return p, err
	})
}

// ErrorLine is one line of `logs`.
type ErrorLine struct {
	At      time.Time
	Kind    string
	Message string
}

// RecentErrors returns the newest errors first.
func (ix *Index) RecentErrors(ctx context.Context, limit int) ([]ErrorLine, error) {
	rows, err := ix.pool.Query(ctx, `SELECT at, kind, message FROM archive_errors ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ErrorLine, error) {
		var e ErrorLine
		err := r.Scan(&e.At, &e.Kind, &e.Message)
		return e, err
	})
}

// Keys returns the distinct object keys of a topic's messages.
func (ix *Index) Keys(ctx context.Context, topic string) ([]string, error) {
	rows, err := ix.pool.Query(ctx, `SELECT DISTINCT key FROM archive_messages WHERE topic = $1`, topic)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// KnownKeys reports which object keys some index row points at.
func (ix *Index) KnownKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	rows, err := ix.pool.Query(ctx, `SELECT DISTINCT key FROM archive_messages WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := map[string]bool{}
	for _, k := range found {
		out[k] = true
	}
	return out, err
}

// DeleteTopic removes a topic's index rows and returns how many.
func (ix *Index) DeleteTopic(ctx context.Context, topic string) (int64, error) {
	tag, err := ix.pool.Exec(ctx, `DELETE FROM archive_messages WHERE topic = $1`, topic)
	return tag.RowsAffected(), err
}

// CountBetween counts a partition's archived offsets in [lo, hi) under
// topicID or from before ids were kept.
func (ix *Index) CountBetween(ctx context.Context, topic string, topicID store.UUID, partition int32, lo, hi int64) (int64, error) {
	var n int64
	err := ix.pool.QueryRow(ctx, `SELECT count(*) FROM archive_messages WHERE topic = $1 AND partition = $2 AND "offset" >= $3 AND "offset" < $4
		AND topic_id IN ($5, '00000000-0000-0000-0000-000000000000')`, topic, partition, lo, hi, pgtype.UUID{Bytes: topicID, Valid: true}).Scan(&n)
	return n, err
}
