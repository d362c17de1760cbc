// Package kafkameta asks a Kafka cluster what the archiver needs to know
// beside the messages themselves: which topics exist and their ids, the
// first and next offsets of partitions, and what a consumer group has
// committed.
//
// kafka-go, which the archiver consumes with, speaks Metadata only up to
// v8 and so never sees a topic's id (KIP-516, Metadata v10+): a topic
// deleted and created again under the same name looks the same to it. These
// few requests go through franz-go's client instead, which negotiates the
// newest version each broker speaks, tries every bootstrap broker and
// routes ListOffsets to each partition's leader and OffsetFetch to the
// group's coordinator. Every call runs under a deadline.
package kafkameta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Timeout bounds each call when the caller's context has no deadline of
// its own (or a later one).
const Timeout = 15 * time.Second

// TopicID is a topic's id (KIP-516). The zero id means the broker gave
// none (Kafka before 2.8), or an index row from before ids were kept.
type TopicID [16]byte

// IsZero reports whether the id is unknown.
func (id TopicID) IsZero() bool { return id == TopicID{} }

func (id TopicID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// Topic is one topic of the cluster.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int
}

// Auth is how to reach the cluster: TLS and SASL as configured.
type Auth struct {
	TLS           *tls.Config // nil: plain TCP
	SASLMechanism string      // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUser      string
	SASLPassword  string
}

// Client asks the cluster. It holds connections; Close it.
type Client struct{ cl *kgo.Client }

// New makes a client for brokers. It connects lazily, on the first call.
func New(brokers []string, auth Auth) (*Client, error) {
	if len(brokers) == 0 {
		return nil, errors.New("no Kafka brokers")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("topic-archiver"),
		kgo.DialTimeout(5 * time.Second),
		// A broker that takes a request and goes quiet is given up on
		// after 5 s, and the request tried on another; retries stay
		// within the caller's deadline, so a cluster that cannot answer
		// in time fails the call, it does not hang it.
		kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RetryTimeout(Timeout),
		kgo.MetadataMinAge(time.Second),
	}
	if auth.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(auth.TLS))
	}
	var mech sasl.Mechanism
	switch auth.SASLMechanism {
	case "":
	case "PLAIN":
		mech = plain.Auth{User: auth.SASLUser, Pass: auth.SASLPassword}.AsMechanism()
	case "SCRAM-SHA-256":
		mech = scram.Auth{User: auth.SASLUser, Pass: auth.SASLPassword}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		mech = scram.Auth{User: auth.SASLUser, Pass: auth.SASLPassword}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", auth.SASLMechanism)
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Client{cl: cl}, nil
}

// Close closes the client's connections.
func (c *Client) Close() { c.cl.Close() }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < Timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, Timeout)
}

// Topics lists every topic of the cluster with its id, sorted by name.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest() // no topics named: all of them
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []Topic
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			// A topic being created or deleted answers with an error
			// for a moment; it is listed again once it settles.
			if errors.Is(err, kerr.LeaderNotAvailable) || errors.Is(err, kerr.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("list topics: %s: %w", *t.Topic, err)
		}
		out = append(out, Topic{Name: *t.Topic, ID: TopicID(t.TopicID), Partitions: len(t.Partitions)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Partition names a topic-partition.
type Partition struct {
	Topic     string
	Partition int32
}

// Which offset of a partition ListOffsets asks for.
const (
	earliest = -2 // the log start: the first offset still kept
	latest   = -1 // the end: the next offset to be written
)

// Starts returns each partition's log start offset, the first offset
// retention has not deleted.
func (c *Client) Starts(ctx context.Context, parts []Partition) (map[Partition]int64, error) {
	return c.listOffsets(ctx, parts, earliest)
}

// Ends returns each partition's end offset, the next to be written.
func (c *Client) Ends(ctx context.Context, parts []Partition) (map[Partition]int64, error) {
	return c.listOffsets(ctx, parts, latest)
}

func (c *Client) listOffsets(ctx context.Context, parts []Partition, at int64) (map[Partition]int64, error) {
	out := map[Partition]int64{}
	if len(parts) == 0 {
		return out, nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, p := range parts {
		i, ok := byTopic[p.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.Topic] = i
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = p.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p.Partition
		rp.Timestamp = at
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t.Topic, p.Partition, err)
			}
			out[Partition{t.Topic, p.Partition}] = p.Offset
		}
	}
	return out, nil
}

// PartitionsOf lists every partition of topics (sorted), from one
// metadata request.
func (c *Client) PartitionsOf(ctx context.Context, topics []string) ([]Partition, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var out []Partition
	for _, t := range resp.Topics {
		if t.Topic == nil || kerr.ErrorForCode(t.ErrorCode) != nil {
			continue // gone since it was listed
		}
		for _, p := range t.Partitions {
			out = append(out, Partition{*t.Topic, p.Partition})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// Committed returns the group's committed offsets (the next offset to
// read) for the partitions of topics that have one.
func (c *Client) Committed(ctx context.Context, group string, topics []string) (map[Partition]int64, error) {
	out := map[Partition]int64{}
	if len(topics) == 0 {
		return out, nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	parts, err := c.PartitionsOf(ctx, topics)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	for _, p := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.Topic {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = p.Topic
			req.Topics = append(req.Topics, rt)
		}
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, p.Partition)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // no group yet: nothing committed
	} else if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicOrPartition) {
					continue
				}
				return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, t.Topic, p.Partition, err)
			}
			if p.Offset >= 0 {
				out[Partition{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return out, nil
}

// Ping asks any broker for the cluster's brokers: the readiness check.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: brokers only
	if _, err := req.RequestWith(ctx, c.cl); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}
