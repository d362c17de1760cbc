package sample

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"tributary.dev/libs/testkit"
)

// The devstack relies on Trickle creating its topics and feeding every one
// of them, the vetoed one included, until it is stopped.
func TestTrickleFeedsEveryTopic(t *testing.T) {
	brokers := testkit.Kafka(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Trickle(ctx, brokers, nil, 50*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Trickle: %v", err)
		}
	}()
	for _, topic := range DefaultTopics() {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := r.ReadMessage(rctx)
		rcancel()
		r.Close()
		if err != nil {
			t.Fatalf("%s: no message: %v", topic, err)
		}
		if len(m.Value) == 0 || string(m.Headers[0].Value) != "devstack" {
			t.Fatalf("%s: unexpected message %q %v", topic, m.Value, m.Headers)
		}
	}
}
