// Package announce is where the parser tells the world a file is done:
// hedera.records.parsed.<node> events, published through a JetStream
// stream of their own so that a subscriber that was down reads what it
// missed, each with a Nats-Msg-Id naming the file so that an event sent
// again (a crash between the stream's acknowledgement and the state's
// note of it) is dropped by the stream instead of stored twice.
package announce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/natsbus"
)

// SubjectPrefix is followed by the node number.
const SubjectPrefix = "hedera.records.parsed."

// Config is the stream the events are kept in.
type Config struct {
	Stream string // its name, PARSED_STREAM
	// MaxAge and MaxBytes bound what it keeps: a subscriber away for
	// longer, or behind by more, misses the oldest events.
	MaxAge   time.Duration
	MaxBytes int64
	// Dedup is how long the stream remembers an event's id: longer than
	// a restart takes, so an event sent again after one is dropped.
	Dedup time.Duration
	// Timeout bounds each call to the server.
	Timeout time.Duration
}

// Validate checks what the server would refuse, naming the variables.
func (c Config) Validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("PARSED_STREAM: empty"))
	}
	if c.MaxAge <= 0 || c.MaxBytes <= 0 || c.Dedup <= 0 {
		errs = append(errs, fmt.Errorf("PARSED_MAX_AGE, PARSED_MAX_BYTES, PARSED_DEDUP_WINDOW: all positive, got %v, %d, %v", c.MaxAge, c.MaxBytes, c.Dedup))
	}
	if c.Dedup > c.MaxAge {
		errs = append(errs, fmt.Errorf("PARSED_DEDUP_WINDOW (%v) longer than PARSED_MAX_AGE (%v): the stream would forget an event before its id", c.Dedup, c.MaxAge))
	}
	return errors.Join(errs...)
}

// StreamConfig is the stream as the parser creates or updates it: every
// parsed subject, on disk, the oldest events discarded first when a
// limit is reached (a reader's absence never stops the parser).
func StreamConfig(c Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "record-parser: hedera.records.parsed events, one per record file, kept for subscribers that were away",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Duplicates:  c.Dedup,
	}
}

// Announcer publishes parsed events on the stream.
type Announcer struct {
	js  jetstream.JetStream
	cfg Config
}

// New creates the stream or updates it to cfg (every replica may call it
// at start) and returns an Announcer on it.
func New(ctx context.Context, bus *natsbus.Bus, cfg Config) (*Announcer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := bus.EnsureStream(ctx, StreamConfig(cfg)); err != nil {
		return nil, fmt.Errorf("PARSED_STREAM: %w", err)
	}
	return &Announcer{js: bus.JS, cfg: cfg}, nil
}

// Announce publishes payload on subject with msgID and returns once the
// stream has stored it — or recognised it as a repeat of one it holds
// (duplicate true). Only then is the event announced; on an error it may
// or may not be stored, and announcing it again is safe.
func (a *Announcer) Announce(ctx context.Context, subject, msgID string, payload []byte) (duplicate bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	ack, err := a.js.Publish(ctx, subject, payload, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(a.cfg.Stream))
	if err != nil {
		return false, fmt.Errorf("publish %s to stream %s: %w", subject, a.cfg.Stream, err)
	}
	return ack.Duplicate, nil
}

// Usage is what the stream holds now and its byte limit.
func (a *Announcer) Usage(ctx context.Context) (bytes, messages uint64, limit int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	s, err := a.js.Stream(ctx, a.cfg.Stream)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stream %s: %w", a.cfg.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stream %s: %w", a.cfg.Stream, err)
	}
	return info.State.Bytes, info.State.Msgs, info.Config.MaxBytes, nil
}
