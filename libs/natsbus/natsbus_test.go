package natsbus

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"tributary.dev/libs/testkit"
)

func TestPublishCarriesMsgID(t *testing.T) {
	url := testkit.NATS(t)
	ctx := context.Background()
	bus, err := Connect(ctx, url, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	sub, err := bus.Conn.SubscribeSync("paper-engine.meta.orders.change")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishJSON(ctx, "paper-engine.meta.orders.change", "delivery-26", map[string]any{"v": 1, "id": "orders"}); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got != "delivery-26" {
		t.Fatalf("Nats-Msg-Id = %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(msg.Data, &body); err != nil || body["id"] != "orders" || body["v"] != float64(1) {
		t.Fatalf("body = %s (%v)", msg.Data, err)
	}
}

// TestDurableRepublishIsDeduplicated publishes the same event three times,
// as a crashed-and-restarted publisher would, and expects one message in
// the stream.
func TestDurableRepublishIsDeduplicated(t *testing.T) {
	url := testkit.NATS(t)
	ctx := context.Background()
	bus, err := Connect(ctx, url, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	stream, err := bus.EnsureStream(ctx, jetstream.StreamConfig{Name: "RECORDS", Subjects: []string{"hedera.records.downloaded.>"}})
	if err != nil {
		t.Fatal(err)
	}
	// Calling it again (a second replica starting) must not fail.
	if _, err := bus.EnsureStream(ctx, jetstream.StreamConfig{Name: "RECORDS", Subjects: []string{"hedera.records.downloaded.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := bus.PublishDurable(ctx, "hedera.records.downloaded.3", "file-A", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bus.PublishDurable(ctx, "hedera.records.downloaded.3", "file-B", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	// Core publish with the header is deduplicated by the stream too.
	if err := bus.Publish(ctx, "hedera.records.downloaded.3", "file-B", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (one per msg id)", info.State.Msgs)
	}
}

func TestPublishBatch(t *testing.T) {
	url := testkit.NATS(t)
	ctx := context.Background()
	bus, err := Connect(ctx, url, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	sub, _ := bus.Conn.SubscribeSync("archive.stored.>")
	var batch []Msg
	for i := 0; i < 100; i++ {
		batch = append(batch, Msg{Subject: "archive.stored.t", MsgID: string(rune('a' + i%26)), Payload: []byte{byte(i)}})
	}
	if err := bus.PublishBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil || m.Data[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
}

func TestConnectFailsClearly(t *testing.T) {
	_, err := Connect(context.Background(), "nats://127.0.0.1:1", "test", zap.NewNop())
	if err == nil {
		t.Fatal("connected to a closed port")
	}
}

func TestUTCTSAndToken(t *testing.T) {
	ts := time.Date(2021, 12, 9, 9, 31, 4, 824890123, time.FixedZone("CET", 3600))
	if got := UTCTS(ts); got != "2021-12-09T08:31:04.824890" {
		t.Fatalf("UTCTS = %q", got)
	}
	for in, want := range map[string]string{"orders": "orders", "a.b*c>d e": "a_b_c_d_e", "": "_"} {
		if got := Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
}
