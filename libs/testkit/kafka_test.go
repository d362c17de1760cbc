package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaRoundTrip checks the kfake cluster speaks enough of the real
// protocol for kafka-go: produce with headers, then read back in a group.
func TestKafkaRoundTrip(t *testing.T) {
	brokers := Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "round-trip", AllowAutoTopicCreation: true, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	msgs := []kafka.Message{
		{Key: []byte("k1"), Value: []byte("one"), Headers: []kafka.Header{{Key: "_id", Value: []byte("0123456789abcdef")}}},
		{Key: []byte("k2"), Value: []byte{0, 0xff, 0x10}},
	}
	var err error
	for i := 0; i < 20; i++ { // the topic is created on first use
		if err = w.WriteMessages(ctx, msgs...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "g", Topic: "round-trip", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i, want := range msgs {
		got, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Value) != string(want.Value) || string(got.Key) != string(want.Key) || fmt.Sprint(got.Headers) != fmt.Sprint(want.Headers) {
			t.Fatalf("message %d = key %q value %q headers %v, want %q %q %v", i, got.Key, got.Value, got.Headers, want.Key, want.Value, want.Headers)
		}
		if got.Offset != int64(i) {
			t.Fatalf("message %d at offset %d", i, got.Offset)
		}
	}
}
