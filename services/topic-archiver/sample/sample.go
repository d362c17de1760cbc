// Package sample feeds the devstack's Kafka for `make run`: a few topics
// with a trickle of messages, one of them on the archiver's veto list, so
// a newcomer sees messages archived and can inspect and restore them.
package sample

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topics are the sample topics the archiver stores.
var Topics = []string{"gcn.notices.swift", "lvk.alerts", "heartbeat"}

// Vetoed is a sample topic that the devstack puts in VETO_TOPICS: it is
// fed like the others and the archiver must never read it.
const Vetoed = "internal.secrets"

// DefaultTopics is Topics plus Vetoed: what Trickle feeds when given none.
func DefaultTopics() []string { return append(append([]string{}, Topics...), Vetoed) }

// Trickle sends one message to each of topics (DefaultTopics when empty)
// every `every` until ctx is done, then returns nil. Topics are created on
// first use; a refused write (the topic being created, the broker still
// starting) is retried on the next tick rather than ending the trickle.
func Trickle(ctx context.Context, brokers []string, topics []string, every time.Duration) error {
	if len(brokers) == 0 {
		return fmt.Errorf("sample trickle: no brokers")
	}
	if len(topics) == 0 {
		topics = DefaultTopics()
	}
	if every <= 0 {
		every = time.Second
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), AllowAutoTopicCreation: true, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		msgs := make([]kafka.Message, 0, len(topics))
		for _, topic := range topics {
			msgs = append(msgs, kafka.Message{
				Topic:   topic,
				Key:     []byte(fmt.Sprintf("k%d", n%5)),
				Value:   []byte(fmt.Sprintf(`{"topic":%q,"n":%d,"at":%q}`, topic, n, time.Now().UTC().Format(time.RFC3339Nano))),
				Headers: []kafka.Header{{Key: "source", Value: []byte("devstack")}},
			})
		}
		_ = w.WriteMessages(ctx, msgs...)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
