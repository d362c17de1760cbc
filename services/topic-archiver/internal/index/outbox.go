package index

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OutboxEntry is one transaction's announcements: a JSON array of events.
type OutboxEntry struct {
	ID     int64
	Events []byte
}

// DrainOutbox hands up to limit entries, oldest first, to send, and
// deletes those send accepted, in one transaction. Entries another
// replica is sending are skipped (FOR UPDATE SKIP LOCKED). send returns
// how many of the entries it sent, in order; an error after some is
// returned with them deleted. It returns how many entries were sent.
func (ix *Index) DrainOutbox(ctx context.Context, limit int, send func([]OutboxEntry) (int, error)) (int, error) {
	sent := 0
	var sendErr error
	err := pgx.BeginFunc(ctx, ix.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, events::text FROM archive_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxEntry, error) {
			var e OutboxEntry
			var text string
			err := r.Scan(&e.ID, &text)
			e.Events = []byte(text)
			return e, err
		})
		if err != nil || len(entries) == 0 {
			return err
		}
		sent, sendErr = send(entries)
		if sent == 0 {
			return nil
		}
		ids := make([]int64, sent)
		for i := range ids {
			ids[i] = entries[i].ID
		}
		_, err = tx.Exec(ctx, `DELETE FROM archive_outbox WHERE id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drain the outbox: %w", err)
	}
	return sent, sendErr
}

// OutboxPending counts entries not yet sent.
func (ix *Index) OutboxPending(ctx context.Context) (int64, error) {
	var n int64
	err := ix.pool.QueryRow(ctx, `SELECT count(*) FROM archive_outbox`).Scan(&n)
	return n, err
}
