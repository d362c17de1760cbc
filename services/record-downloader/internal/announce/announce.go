// Package announce tells the parser (and anyone else) what was written:
// one hedera.records.downloaded.<node> event per file, on a JetStream
// stream so nothing is lost while a consumer is down. Each event's
// Nats-Msg-Id is bucket/object, so an event sent again after a crash (the
// files were written and announced, the position not yet saved) is
// dropped by the stream.
package announce

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/natsbus"
)

// SubjectPrefix is followed by the node's account number ("3").
const SubjectPrefix = "hedera.records.downloaded."

// Event is the payload of proto/events/hedera.records.downloaded.schema.json.
type Event struct {
	V              int      `json:"v"`
	Host           string   `json:"host"`
	UTCTS          string   `json:"utcts"`
	Node           string   `json:"node"`
	Bucket         string   `json:"bucket"`
	Object         string   `json:"object"`
	Path           string   `json:"path"`
	Kind           string   `json:"kind"`
	Size           int64    `json:"size"`
	SHA384         string   `json:"sha384"`
	ConsensusStart string   `json:"consensus_start"`
	FileHash       string   `json:"file_hash"`
	Signers        []string `json:"signers"`
}

// NodeNumber is the account number of "0.0.3": "3".
func NodeNumber(account string) string {
	return account[strings.LastIndexByte(account, '.')+1:]
}

// ConsensusStart formats a consensus time as the events carry it.
func ConsensusStart(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999999Z")
}

// Subject is the event's subject.
func (e *Event) Subject() string { return SubjectPrefix + e.Node }

// MsgID is the stream's deduplication id: the object written.
func (e *Event) MsgID() string { return e.Bucket + "/" + e.Object }

// publishTimeout bounds the wait for the stream's acknowledgements of one
// batch: a stream that cannot store them in this time is failing, and the
// pass retries.
const publishTimeout = 30 * time.Second

// Announcer publishes events on a stream.
type Announcer struct {
	js   jetstream.JetStream
	host string
}

// StreamConfig is the stream the events go to: every downloaded subject,
// kept on disk, with a duplicate window long enough to cover a restart.
func StreamConfig(name string, dedup time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "record-downloader: record, signature and sidecar files written to the local record directory",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Duplicates:  dedup,
	}
}

// New makes sure the stream exists (creating or updating it) and returns
// an Announcer on it.
func New(ctx context.Context, bus *natsbus.Bus, stream string, dedup time.Duration) (*Announcer, error) {
	if _, err := bus.EnsureStream(ctx, StreamConfig(stream, dedup)); err != nil {
		return nil, err
	}
	return &Announcer{js: bus.JS, host: natsbus.Host()}, nil
}

// Publish sends the events and waits until the stream has stored every
// one (or dropped it as a duplicate). On an error some may have been
// stored: publishing all again is safe.
func (a *Announcer) Publish(ctx context.Context, events []Event) error {
	// The acknowledgements have no deadline of their own.
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for i := range events {
		e := &events[i]
		e.V, e.Host, e.UTCTS = 1, a.host, natsbus.UTCTS(time.Now())
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("announce %s: %w", e.Object, err)
		}
		msg := nats.NewMsg(e.Subject())
		msg.Data = payload
		msg.Header.Set(jetstream.MsgIDHeader, e.MsgID())
		f, err := a.js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("announce %s on %s: %w", e.Object, e.Subject(), err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("announce %s on %s: %w", events[i].Object, events[i].Subject(), err)
		case <-ctx.Done():
			return fmt.Errorf("announce %s: %w", events[i].Object, ctx.Err())
		}
	}
	return nil
}
