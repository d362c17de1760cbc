package target

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/libs/pg"
)

// OutboxRow is a notification waiting to be sent.
type OutboxRow struct {
	DeliveryID int64
	Subject    string
	MsgID      string
	Payload    []byte
}

// Unsent returns up to limit unsent notifications in delivery order.
func (t *Target) Unsent(ctx context.Context, limit int) ([]OutboxRow, error) {
	rows, err := t.pool.Query(ctx, `SELECT delivery_id, subject, msg_id, payload FROM loader_outbox
		WHERE sent_at IS NULL ORDER BY delivery_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxRow, error) {
		var o OutboxRow
		var payload string
		err := r.Scan(&o.DeliveryID, &o.Subject, &o.MsgID, &payload)
		o.Payload = []byte(payload)
		return o, err
	})
}

// MarkSent records that NATS has the notification.
func (t *Target) MarkSent(ctx context.Context, deliveryID int64) error {
	if _, err := t.pool.Exec(ctx, `UPDATE loader_outbox SET sent_at = now() WHERE delivery_id = $1`, deliveryID); err != nil {
		return fmt.Errorf("mark notification %d sent: %w", deliveryID, err)
	}
	return nil
}

// pruneBatch is how many outbox rows one prune statement deletes: small
// enough that each statement is short (well inside a statement timeout,
// holding few row locks), large enough that a backlog goes in few.
const pruneBatch = 5000

// PruneOutbox deletes notifications sent more than retention ago and
// returns how many it removed. A row not yet sent is never touched,
// however old: only sent_at decides, and it is set only once NATS has the
// message. Age is measured on the database's clock, the one that wrote
// sent_at. Each batch is one statement, so it commits or not on its own:
// a failure part-way leaves the rest for the next prune and loses
// nothing.
func (t *Target) PruneOutbox(ctx context.Context, retention time.Duration) (int64, error) {
	n, err := pg.DeleteInBatches(ctx, t.pool, pruneBatch, `
		DELETE FROM loader_outbox WHERE delivery_id IN (
			SELECT delivery_id FROM loader_outbox
			WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1)
			ORDER BY sent_at LIMIT $2)`, retention.Seconds())
	if err != nil {
		return n, fmt.Errorf("prune outbox rows sent before %s ago: %w", retention, err)
	}
	return n, nil
}
