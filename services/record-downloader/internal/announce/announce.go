// Package announce tells the parser (and anyone else) what was written:
// one hedera.records.downloaded.<node> event per file, on a JetStream
// stream so nothing is lost while a consumer is down. Each event's
// Nats-Msg-Id names the file, not the object a signer served:
// <network>/<day>/<file name>/<kind>. An event sent again — after a crash
// between announcing and saving the position, a retry that took another
// signer's copy, a backfill over announced files — is dropped by the
// stream within its duplicate window. Blocks go on the same stream,
// subject hedera.records.downloaded.block, their id naming the block.
package announce

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
	NodeID         int64    `json:"node_id"`

	// Network names the stream in the Nats-Msg-Id; not in the payload.
	Network string `json:"-"`
}

// NodeNumber is the account number of "0.0.3": "3".
func NodeNumber(account string) string {
	return account[strings.LastIndexByte(account, '.')+1:]
}

// ConsensusStart formats a consensus time as the events carry it.
func ConsensusStart(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999999Z")
}

// KindBlock is a block's kind; BlockSubject its subject (a block is no
// node's copy).
const (
	KindBlock    = "block"
	BlockSubject = SubjectPrefix + KindBlock
)

// BlockEvent is a block written: the same schema, kind block.
type BlockEvent struct {
	V     int    `json:"v"`
	Host  string `json:"host"`
	UTCTS string `json:"utcts"`
	// Bucket and Object are where the bytes came from when a bucket
	// served them; empty for a block node.
	Bucket         string `json:"bucket,omitempty"`
	Object         string `json:"object,omitempty"`
	Path           string `json:"path"`
	Kind           string `json:"kind"`
	Size           int64  `json:"size"`
	SHA384         string `json:"sha384"`
	ConsensusStart string `json:"consensus_start"`
	// RootHash is the block root hash, in the schema's file_hash.
	RootHash     string `json:"file_hash"`
	BlockNumber  uint64 `json:"block_number"`
	PreviousHash string `json:"previous_hash,omitempty"`
	Source       string `json:"source"`
	ConfirmedBy  string `json:"confirmed_by,omitempty"`
	Verification string `json:"verification"`
	Proof        string `json:"proof,omitempty"`
	Wrapped      bool   `json:"wrapped"`

	// Network names the stream in the Nats-Msg-Id; not in the payload.
	Network string `json:"-"`
}

// Subject is the block events' subject.
func (e *BlockEvent) Subject() string { return BlockSubject }

// MsgID names the block, whichever source served it:
// <network>/<day>/<19-digit number>.blk.zstd/block (Path is <day>/<name>).
func (e *BlockEvent) MsgID() string {
	return e.Network + "/" + e.Path + "/" + KindBlock
}

// Subject is the event's subject.
func (e *Event) Subject() string { return SubjectPrefix + e.Node }

// MsgID is the stream's deduplication id: the file written, by network,
// day, file name and kind (Path is <day>/<name> or <day>/sidecar/<name>).
func (e *Event) MsgID() string {
	day, name := e.Path, e.Path
	if i := strings.IndexByte(e.Path, '/'); i >= 0 {
		day = e.Path[:i]
	}
	if i := strings.LastIndexByte(e.Path, '/'); i >= 0 {
		name = e.Path[i+1:]
	}
	return e.Network + "/" + day + "/" + name + "/" + e.Kind
}

// publishTimeout bounds the wait for the stream's acknowledgements of one
// batch: a stream that cannot store them in this time is failing, and the
// pass retries.
const publishTimeout = 30 * time.Second

// Announcer publishes events on a stream.
type Announcer struct {
	js   jetstream.JetStream
	host string
}

// Limits are how long and how much the stream keeps: the oldest events
// go first once either is reached, so a stream nobody reads cannot fill
// the server's disk. MaxAge must cover the longest a consumer may be down
// (it then backfills from the record directory).
type Limits struct {
	Dedup    time.Duration // duplicate window
	MaxAge   time.Duration
	MaxBytes int64
}

// StreamConfig is the stream the events go to: every downloaded subject,
// kept on disk, with a duplicate window long enough to cover a restart.
func StreamConfig(name string, l Limits) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "record-downloader: record, signature and sidecar files and blocks written to the local record directory",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Duplicates:  l.Dedup,
		MaxAge:      l.MaxAge,
		MaxBytes:    l.MaxBytes,
		Discard:     jetstream.DiscardOld,
	}
}

// New makes sure the stream exists (creating or updating it) and returns
// an Announcer on it.
func New(ctx context.Context, bus *natsbus.Bus, stream string, l Limits) (*Announcer, error) {
	if _, err := bus.EnsureStream(ctx, StreamConfig(stream, l)); err != nil {
		return nil, err
	}
	return &Announcer{js: bus.JS, host: natsbus.Host()}, nil
}

// Publish sends the events and waits until the stream has stored every
// one (or dropped it as a duplicate). On an error some may have been
// stored: publishing all again is safe.
func (a *Announcer) Publish(ctx context.Context, events []Event) error {
	msgs := make([]message, len(events))
	for i := range events {
		e := &events[i]
		e.V, e.Host, e.UTCTS = 1, a.host, natsbus.UTCTS(time.Now())
		msgs[i] = message{subject: e.Subject(), id: e.MsgID(), what: e.Object, payload: e}
	}
	return a.publish(ctx, msgs)
}

// PublishBlocks is Publish for blocks.
func (a *Announcer) PublishBlocks(ctx context.Context, events []BlockEvent) error {
	msgs := make([]message, len(events))
	for i := range events {
		e := &events[i]
		e.V, e.Host, e.UTCTS, e.Kind = 1, a.host, natsbus.UTCTS(time.Now()), KindBlock
		msgs[i] = message{subject: e.Subject(), id: e.MsgID(), what: "block " + strconv.FormatUint(e.BlockNumber, 10), payload: e}
	}
	return a.publish(ctx, msgs)
}

// message is one event on its way: subject, Nats-Msg-Id, what it is
// about (for errors) and the payload to marshal.
type message struct {
	subject, id, what string
	payload           any
}

func (a *Announcer) publish(ctx context.Context, msgs []message) error {
	// The acknowledgements have no deadline of their own.
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		payload, err := json.Marshal(m.payload)
		if err != nil {
			return fmt.Errorf("announce %s: %w", m.what, err)
		}
		msg := nats.NewMsg(m.subject)
		msg.Data = payload
		msg.Header.Set(jetstream.MsgIDHeader, m.id)
		f, err := a.js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("announce %s on %s: %w", m.what, m.subject, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("announce %s on %s: %w", msgs[i].what, msgs[i].subject, err)
		case <-ctx.Done():
			return fmt.Errorf("announce %s: %w", msgs[i].what, ctx.Err())
		}
	}
	return nil
}
