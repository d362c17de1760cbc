package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Consumer is the durable pull consumer every replica shares: JetStream
// hands each message to one of them, and redelivers it when it is not
// acknowledged within AckWait (a replica died mid-file).
type Consumer struct {
	cons    jetstream.Consumer
	timeout time.Duration
}

// ConsumerConfig says which consumer to use.
type ConsumerConfig struct {
	Stream  string        // the downloader's stream, HEDERA_RECORDS
	Durable string        // the consumer's name, shared by the replicas
	AckWait time.Duration // how long a file may take before it is redelivered
	// MaxAckPending bounds the messages out at once across replicas.
	MaxAckPending int
	// Timeout bounds each call to the server.
	Timeout time.Duration
}

// StreamConfig is the downloader's stream, created here only when the
// parser starts first (the downloader updates it to its own settings).
func StreamConfig(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "record-downloader: record, signature and sidecar files written to the local record directory",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Duplicates:  time.Hour,
	}
}

// OpenConsumer creates or updates the durable consumer (every replica may
// call it at start) and returns it.
func OpenConsumer(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (*Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := js.Stream(ctx, cfg.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, StreamConfig(cfg.Stream)); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("NATS_STREAM %s: create: %w", cfg.Stream, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("NATS_STREAM %s: %w", cfg.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "record-parser: record files to decode and index",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
		MaxDeliver:    -1,
		FilterSubject: SubjectPrefix + ">",
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("NATS_CONSUMER %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	return &Consumer{cons: cons, timeout: cfg.Timeout}, nil
}

// Fetch waits up to wait for at most n messages.
func (c *Consumer) Fetch(ctx context.Context, n int, wait time.Duration) ([]jetstream.Msg, error) {
	// The wait is the context's deadline: the library takes one or the
	// other, and the context also ends the wait at shutdown.
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	batch, err := c.cons.Fetch(n, jetstream.FetchContext(ctx))
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return msgs, fmt.Errorf("fetch: %w", err)
	}
	return msgs, nil
}

// Pending is how many messages are not yet acknowledged: not delivered
// yet, or delivered and waiting (in flight, or put back for later).
func (c *Consumer) Pending(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer info: %w", err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Check is a readiness check: the consumer answers.
func (c *Consumer) Check(ctx context.Context) error {
	_, err := c.Pending(ctx)
	return err
}
