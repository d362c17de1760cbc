// Package notify sends the loader's outbox to NATS. Rows reach the outbox
// in their delivery's transaction; here they are published through
// JetStream with Nats-Msg-Id set to a per-delivery id and marked sent
// once the stream acknowledges them, so a crash between the two resends
// a message the stream recognises as a duplicate.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/services/s3-loader/internal/target"
)

// Change is the original loader's notification, field for field and in
// the original's key order.
type Change struct {
	V          int                    `json:"v"`
	DS         string                 `json:"ds"`
	ID         string                 `json:"id"`
	Host       string                 `json:"host"`
	UTCTS      string                 `json:"utcts"`
	Stats      map[string]EntityStats `json:"stats"`
	MaxEventID json.RawMessage        `json:"max_event_id"`
}

// EntityStats counts one entity's changes in a delivery.
type EntityStats struct {
	AMEND  int64 `json:"AMEND"`
	CREATE int64 `json:"CREATE"`
	REMOVE int64 `json:"REMOVE"`
}

// Builder makes notifications for deliveries.
type Builder struct {
	Subject string // paper-engine.meta.orders.change
	DS      string // paper-engine
	ID      string // orders
	Host    string
	Now     func() time.Time
}

// Build is target.Options.Notify.
func (b Builder) Build(d *target.Delivery) (target.Notification, error) {
	maxID := json.RawMessage("null")
	if d.MaxEventID != nil {
		if d.EventIDNumeric && isJSONNumber(*d.MaxEventID) {
			maxID = json.RawMessage(*d.MaxEventID)
		} else {
			// Text, and a numeric column's NaN or ±Infinity, which
			// PostgreSQL allows and JSON numbers cannot hold: as a
			// string, rather than a payload that does not encode (and a
			// delivery that could never commit).
			q, _ := json.Marshal(*d.MaxEventID)
			maxID = q
		}
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	payload, err := json.Marshal(Change{
		V: 1, DS: b.DS, ID: b.ID, Host: b.Host, UTCTS: natsbus.UTCTS(now()),
		Stats:      map[string]EntityStats{d.Table.Name: {AMEND: d.Amended, CREATE: d.Created, REMOVE: d.Removed}},
		MaxEventID: maxID,
	})
	if err != nil {
		return target.Notification{}, err
	}
	return target.Notification{Subject: b.Subject, MsgID: fmt.Sprintf("%s.%s.delivery.%d", b.DS, b.ID, d.ID), Payload: payload}, nil
}

// isJSONNumber reports whether PostgreSQL's text for a number is also a
// JSON number (a bigint, a numeric's 12.50, a double's 1.5e+20 are; NaN
// and Infinity are not).
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	return json.Valid([]byte(s))
}

// Publisher drains the outbox through JetStream.
type Publisher struct {
	Target *target.Target
	Bus    *natsbus.Bus
	Log    *zap.Logger
	// Sent and Failed count notifications, for metrics.
	Sent, Failed func()
	// AfterPublish, when set, runs between a publish and marking it sent
	// (crash tests stop here to prove a resend is recognised).
	AfterPublish func(deliveryID int64)
}

// publishTimeout bounds the wait for one notification's acknowledgement:
// a stream that cannot store it in this time is failing, and the next
// flush tries again.
const publishTimeout = 30 * time.Second

// Flush sends every unsent notification in delivery order and marks each
// sent only once the stream has acknowledged it: stored, or recognised
// by its Nats-Msg-Id as one it already holds. It stops at the first
// failure so order is kept; what is left goes on the next call. Plain
// subscribers of the subject get each message as before.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		rows, err := p.Target.Unsent(ctx, 500)
		if err != nil {
			return err
		}
		for _, r := range rows {
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			err := p.Bus.PublishDurable(pctx, r.Subject, r.MsgID, r.Payload)
			cancel()
			if err != nil {
				if p.Failed != nil {
					p.Failed()
				}
				return fmt.Errorf("notify delivery %d (%s): %w", r.DeliveryID, r.MsgID, err)
			}
			if p.AfterPublish != nil {
				p.AfterPublish(r.DeliveryID)
			}
			if err := p.Target.MarkSent(ctx, r.DeliveryID); err != nil {
				return err
			}
			if p.Sent != nil {
				p.Sent()
			}
			p.Log.Debug("notification sent", zap.Int64("delivery", r.DeliveryID), zap.String("subject", r.Subject))
		}
		if len(rows) < 500 {
			return nil
		}
	}
}

// EnsureStream makes sure a JetStream stream stores the subject, so every
// notification is acknowledged once stored: the stream that already
// captures it (the operator's), else a new one named name, on disk, that
// remembers each Nats-Msg-Id for dedup (a resend after a crash between a
// publish and its mark is dropped). It returns the stream's name.
func EnsureStream(ctx context.Context, bus *natsbus.Bus, name, subject string, dedup time.Duration) (string, error) {
	if existing, err := bus.JS.StreamNameBySubject(ctx, subject); err == nil {
		return existing, nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return "", fmt.Errorf("find the stream of %s: %w", subject, err)
	}
	_, err := bus.EnsureStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "s3-loader: one notification per DMS delivery applied",
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Duplicates:  dedup,
	})
	if err != nil {
		return "", err
	}
	return name, nil
}
