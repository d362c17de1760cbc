package index

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tributary.dev/services/topic-archiver/internal/store"
)

// TopicSeen is an id the archiver archives a topic under, and the
// broker's id for the topic that went with it (see archive_topics).
type TopicSeen struct {
	Topic     string
	ID        store.UUID
	BrokerID  store.UUID
	FirstSeen time.Time
}

// LatestTopicIDs returns, per topic, the id it was last seen with.
func (ix *Index) LatestTopicIDs(ctx context.Context) (map[string]TopicSeen, error) {
	rows, err := ix.pool.Query(ctx, `SELECT DISTINCT ON (topic) topic, topic_id, broker_id, first_seen FROM archive_topics ORDER BY topic, first_seen DESC, topic_id`)
	if err != nil {
		return nil, fmt.Errorf("read topic ids: %w", err)
	}
	seen, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TopicSeen, error) {
		var t TopicSeen
		var id, broker pgtype.UUID
		err := r.Scan(&t.Topic, &id, &broker, &t.FirstSeen)
		t.ID, t.BrokerID = id.Bytes, broker.Bytes
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read topic ids: %w", err)
	}
	out := make(map[string]TopicSeen, len(seen))
	for _, t := range seen {
		out[t.Topic] = t
	}
	return out, nil
}

// RecordTopicIDs keeps the ids the archiver now uses; ids already
// recorded keep their first sighting.
func (ix *Index) RecordTopicIDs(ctx context.Context, topics []TopicSeen) error {
	if len(topics) == 0 {
		return nil
	}
	names := make([]string, len(topics))
	ids := make([]pgtype.UUID, len(topics))
	brokers := make([]pgtype.UUID, len(topics))
	for i, t := range topics {
		names[i], ids[i], brokers[i] = t.Topic, pgtype.UUID{Bytes: t.ID, Valid: true}, pgtype.UUID{Bytes: t.BrokerID, Valid: true}
	}
	_, err := ix.pool.Exec(ctx, `INSERT INTO archive_topics (topic, topic_id, broker_id)
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[]) ON CONFLICT DO NOTHING`, names, ids, brokers)
	if err != nil {
		return fmt.Errorf("record topic ids: %w", err)
	}
	return nil
}
