package target

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
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
