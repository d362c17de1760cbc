package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/services/topic-archiver/internal/index"
)

// Announcements go through an outbox: the archive.stored events of what a
// transaction indexes are written in that same transaction
// (archive_outbox), then published through JetStream and deleted only
// once the stream has acknowledged every one. A crash, or NATS being
// down, loses none: they go out when it answers again, and an event sent
// twice (a crash between the acknowledgement and the delete) carries the
// same Nats-Msg-Id, which the stream drops. Archiving never waits for
// NATS.

// StreamConfig is the stream archive.stored events are stored in.
type StreamConfig struct {
	Name     string        // "": ARCHIVE_STORED
	Dedup    time.Duration // how long a Nats-Msg-Id is remembered
	MaxAge   time.Duration // how long an event is kept
	MaxBytes int64         // how many bytes are kept at most
}

// ensureStream creates the stream, or updates it to cfg.
func ensureStream(ctx context.Context, bus *natsbus.Bus, cfg StreamConfig) error {
	if cfg.Name == "" {
		cfg.Name = "ARCHIVE_STORED"
	}
	if cfg.Dedup <= 0 {
		cfg.Dedup = time.Hour
	}
	if cfg.MaxAge > 0 && cfg.Dedup > cfg.MaxAge {
		cfg.Dedup = cfg.MaxAge // the server insists
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := bus.EnsureStream(sctx, jetstream.StreamConfig{
		Name:        cfg.Name,
		Description: "topic-archiver: archive.stored events, one per message (object mode) or segment stored",
		Subjects:    []string{"archive.stored.>"},
		Storage:     jetstream.FileStorage,
		Duplicates:  cfg.Dedup,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    max(cfg.MaxBytes, 0),
		Discard:     jetstream.DiscardOld,
	})
	return err
}

// outboxEvent is one event of an outbox entry.
type outboxEvent struct {
	Subject string          `json:"subject"`
	MsgID   string          `json:"msg_id"`
	Payload json.RawMessage `json:"payload"`
}

// announceMessages is the outbox entry of messages indexed in object
// mode: one event per message, its Nats-Msg-Id its object key (unique
// per message, where an _id need not be).
func (a *Archiver) announceMessages(rows []index.Row) ([]byte, error) {
	if a.bus == nil {
		return nil, nil
	}
	events := make([]outboxEvent, len(rows))
	for i, r := range rows {
		payload, err := json.Marshal(storedEvent(r))
		if err != nil {
			return nil, err
		}
		events[i] = outboxEvent{Subject: "archive.stored." + natsbus.Token(r.Topic), MsgID: r.Key, Payload: payload}
	}
	return json.Marshal(events)
}

// announceSegment is the outbox entry of a segment's indexed messages.
func (a *Archiver) announceSegment(topic string, partition int, key string, first, last int64, size int) index.Announce {
	if a.bus == nil {
		return nil
	}
	return func(inserted []index.Row) ([]byte, error) {
		ev := SegmentStored{V: 1, Host: host, UTCTS: natsbus.UTCTS(time.Now()), Topic: topic, Partition: partition,
			Bucket: a.store.Bucket(), Key: key, FirstOffset: first, LastOffset: last, Count: len(inserted), Size: size}
		payload, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal([]outboxEvent{{Subject: "archive.stored." + natsbus.Token(topic), MsgID: key, Payload: payload}})
	}
}

// kickOutbox tells the publisher there is something to send.
func (a *Archiver) kickOutbox() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// outboxEvery is how often the publisher looks at the outbox without
// being told to: entries left by a failure, a crash or another replica.
const outboxEvery = 5 * time.Second

// publishOutbox sends the outbox until ctx ends.
func (a *Archiver) publishOutbox(ctx context.Context) {
	t := time.NewTicker(outboxEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-t.C:
		}
		if err := a.drainOutbox(ctx); err != nil && ctx.Err() == nil {
			a.m.Errors.WithLabelValues("nats").Inc()
			a.log.Warn("announce stored messages; the outbox keeps them for the next try", zap.Error(err))
		}
	}
}

// drainOutbox sends every entry in the outbox, oldest first, until it is
// empty or a send fails.
func (a *Archiver) drainOutbox(ctx context.Context) error {
	pending := func() {
		if n, err := a.ix.OutboxPending(context.WithoutCancel(ctx)); err == nil {
			a.m.OutboxPending.Set(float64(n))
		}
	}
	pending() // before, too: a send may wait long for NATS
	defer pending()
	for {
		n, err := a.ix.DrainOutbox(ctx, 20, func(entries []index.OutboxEntry) (int, error) { return a.sendEntries(ctx, entries) })
		if err != nil || n == 0 {
			return err
		}
	}
}

// publishTimeout bounds the wait for one entry's acknowledgements.
const publishTimeout = 30 * time.Second

// sendEntries publishes entries' events through JetStream and returns
// how many entries, in order, the stream acknowledged in full.
func (a *Archiver) sendEntries(ctx context.Context, entries []index.OutboxEntry) (int, error) {
	for i, e := range entries {
		var events []outboxEvent
		if err := json.Unmarshal(e.Events, &events); err != nil {
			return i, fmt.Errorf("outbox entry %d: %w", e.ID, err)
		}
		if err := a.publishAcked(ctx, events); err != nil {
			return i, fmt.Errorf("outbox entry %d: %w", e.ID, err)
		}
		a.m.Announcements.Add(float64(len(events)))
	}
	return len(entries), nil
}

// publishAcked publishes events asynchronously and waits for every
// acknowledgement.
func (a *Archiver) publishAcked(ctx context.Context, events []outboxEvent) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for _, ev := range events {
		msg := nats.NewMsg(ev.Subject)
		msg.Data = ev.Payload
		msg.Header.Set(jetstream.MsgIDHeader, ev.MsgID)
		f, err := a.bus.JS.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publish %s: %w", ev.Subject, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s (%s): %w", events[i].Subject, events[i].MsgID, err)
		case <-ctx.Done():
			return fmt.Errorf("publish %s (%s): no acknowledgement: %w", events[i].Subject, events[i].MsgID, ctx.Err())
		}
	}
	return nil
}
