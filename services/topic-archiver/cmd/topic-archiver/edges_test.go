package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"tributary.dev/libs/testkit"
	"tributary.dev/services/topic-archiver/internal/store"
)

// TestTombstonesThroughRestore archives a compacted topic whose key k1 was
// deleted (a null value, a tombstone) beside an empty value: the archive,
// inspect and restore keep the tombstone null and the empty value empty,
// so the restored compacted topic, once compacted, has deleted k1 and kept
// k3's empty value.
func TestTombstonesThroughRestore(t *testing.T) {
	for _, mode := range []string{"object", "segment"} {
		t.Run(mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			e.createTopic(t, "ledger", 1, "cleanup.policy=compact")
			rec := func(k, v string, null bool) *kgo.Record {
				r := &kgo.Record{Topic: "ledger", Key: []byte(k), Value: []byte(v)}
				if null {
					r.Value = nil
				}
				return r
			}
			e.produceRecords(t, rec("k1", "v1", false), rec("k2", "v2", false), rec("k1", "", true), rec("k3", "", false))
			e.runOnce(t, "STORE_MODE="+mode)
			got := e.archivedOf(t, "ledger")
			if len(got) != 4 {
				t.Fatalf("archived %d messages, want 4", len(got))
			}
			if !got[2].rec.Tombstone() || got[3].rec.Tombstone() || got[3].rec.Message == nil || len(got[3].rec.Message) != 0 || got[2].size != 0 {
				t.Fatalf("k1's tombstone stored as %v (tombstone %v), k3's empty value as %v (tombstone %v)",
					got[2].rec.Message, got[2].rec.Tombstone(), got[3].rec.Message, got[3].rec.Tombstone())
			}
			out, err := e.verb(t, "inspect", got[2].uuid.String())
			if err != nil || !strings.Contains(out, "message    null (a tombstone)") {
				t.Fatalf("inspect the tombstone: %v\n%s", err, out)
			}
			out, err = e.verb(t, "inspect", got[3].uuid.String())
			if err != nil || !strings.Contains(out, "message    0 bytes") {
				t.Fatalf("inspect the empty value: %v\n%s", err, out)
			}

			// Restored into a compacted topic that drops tombstones at
			// once, then compacted: k1 is gone.
			e.createTopic(t, "ledger.restored", 1, "cleanup.policy=compact", "delete.retention.ms=0")
			out, err = e.verb(t, "restore", "--topic", "ledger", "--to-topic", "ledger.restored")
			if err != nil || !strings.Contains(out, "restored 4 messages") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			restored := values(e.consumeAll(t, "ledger.restored", 4))
			if strings.Join(restored, ",") != "k1=v1,k2=v2,k1=<null>,k3=" {
				t.Fatalf("restored %v", restored)
			}
			// Compaction leaves the last batch alone: one more after it.
			e.produceRecords(t, &kgo.Record{Topic: "ledger.restored", Key: []byte("k4"), Value: []byte("last")})
			e.kafka.Compact()
			after := values(e.consumeAll(t, "ledger.restored", 3))
			if strings.Join(after, ",") != "k2=v2,k3=,k4=last" {
				t.Fatalf("the restored topic compacted to %v, want k1 deleted", after)
			}
		})
	}
}

// TestTimestampsOutOfRange archives messages whose producers set
// timestamps in nanoseconds, negative and in the year 10000: each is
// archived at once — no retry loop stalling the partition — with the raw
// value kept (kafka-go reports every timestamp ≤ 0 as none, stored as
// -1) and the indexed time clamped into 1970 … 9999; restore sends what
// the Kafka client can and says how many it could not.
func TestTimestampsOutOfRange(t *testing.T) {
	const (
		nanos     = int64(1_700_000_000_123_456_789) // nanoseconds sent as milliseconds
		year10000 = int64(253_402_300_800_000)       // 10000-01-01
		normal    = int64(1_700_000_000_123)
	)
	maxIndexed := time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	for _, mode := range []string{"object", "segment"} {
		t.Run(mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			e.createTopic(t, "clocks", 1)
			e.produceRaw(t, "clocks", 0, nanos, "nanos")
			e.produceRaw(t, "clocks", 0, -5, "negative")
			e.produceRaw(t, "clocks", 0, year10000, "year10000")
			e.produceRaw(t, "clocks", 0, normal, "normal")
			start := time.Now()
			e.runOnce(t, "STORE_MODE="+mode, "IDLE_EXIT=20")
			if d := time.Since(start); d > 40*time.Second {
				t.Fatalf("the run took %s", d)
			}
			want := map[string]struct {
				raw     int64
				indexed time.Time
			}{
				"nanos":     {nanos, maxIndexed},
				"negative":  {store.NoTimestamp, time.UnixMilli(0).UTC()},
				"year10000": {year10000, maxIndexed},
				"normal":    {normal, time.UnixMilli(normal).UTC()},
			}
			got := e.archivedOf(t, "clocks")
			if len(got) != 4 {
				t.Fatalf("archived %d of 4", len(got))
			}
			for _, a := range got {
				w := want[string(a.rec.Message)]
				if a.rec.TimestampMS != w.raw || !a.ts.Equal(w.indexed) {
					t.Errorf("%s: stored %d, indexed %s; want %d, %s", a.rec.Message, a.rec.TimestampMS, a.ts.UTC(), w.raw, w.indexed)
				}
				if mode == "object" && !strings.Contains(a.key, w.indexed.Format("/2006/01/02/")) {
					t.Errorf("%s filed under %s", a.rec.Message, a.key)
				}
			}
			out, err := e.verb(t, "inspect", got[0].uuid.String())
			if err != nil || !strings.Contains(out, fmt.Sprintf("%d ms as sent (indexed as 9999-12-31T23:59:59.999Z)", nanos)) {
				t.Fatalf("inspect: %v\n%s", err, out)
			}
			out, err = e.verb(t, "restore", "--topic", "clocks", "--to-topic", "clocks.restored")
			if err != nil || !strings.Contains(out, "restored 4 messages") || !strings.Contains(out, "2 of them have timestamps the Kafka client cannot write") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			for _, r := range e.consumeAll(t, "clocks.restored", 4) {
				if string(r.Value) == "normal" && r.Timestamp.UnixMilli() != normal {
					t.Fatalf("restored normal message at %d, want %d", r.Timestamp.UnixMilli(), normal)
				}
			}
		})
	}
}

// TestFallingBehindRetention stops the archiver, lets retention delete
// messages it never read, and starts it again: kafka-go skips to the log
// start, and the archiver records how many messages were lost, where —
// in archive_errors, shown by `logs` — and archives the rest.
func TestFallingBehindRetention(t *testing.T) {
	e := newProcEnv(t, 1)
	e.createTopic(t, "fleeting", 1)
	vals := make([]string, 30)
	for i := range vals {
		vals[i] = fmt.Sprintf("m-%d", i)
	}
	e.produceValues(t, "fleeting", 0, vals[:10]...)
	e.runOnce(t, "STORE_MODE=segment")
	e.produceValues(t, "fleeting", 0, vals[10:]...)
	e.deleteRecords(t, "fleeting", 0, 25) // offsets 10 to 24 never read
	e.runOnce(t, "STORE_MODE=segment")
	var kept []string
	for _, a := range e.archivedOf(t, "fleeting") {
		kept = append(kept, string(a.rec.Message))
	}
	if strings.Join(kept, ",") != strings.Join(append(vals[:10:10], vals[25:]...), ",") {
		t.Fatalf("archived %v", kept)
	}
	var kind, msg string
	var partition int32
	var offset int64
	err := e.pool.QueryRow(e.ctx, `SELECT kind, partition, "offset", message FROM archive_errors WHERE topic = 'fleeting'`).Scan(&kind, &partition, &offset, &msg)
	if err != nil || kind != "retention" || partition != 0 || offset != 10 || !strings.Contains(msg, "15 messages lost: offsets 10 to 24 of fleeting/0") {
		t.Fatalf("archive_errors: %v %s %d@%d %q", err, kind, partition, offset, msg)
	}
	if out, err := e.verb(t, "logs"); err != nil || !strings.Contains(out, "15 messages lost") {
		t.Fatalf("logs: %v\n%s", err, out)
	}
	// A run that reads on from where it stopped loses nothing.
	e.produceValues(t, "fleeting", 0, "m-30")
	e.runOnce(t, "STORE_MODE=segment")
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_errors WHERE kind = 'retention'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d retention errors after a run that lost nothing, %v", n, err)
	}
}

// TestFiveMebibyteMessage archives a 5 MiB message in both modes and
// restores it: restore sizes the Kafka writer's batches from the largest
// message it replays.
func TestFiveMebibyteMessage(t *testing.T) {
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	for _, mode := range []string{"object", "segment"} {
		t.Run(mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			e.createTopic(t, "big", 1, "max.message.bytes=16777216")
			e.createTopic(t, "big.restored", 1, "max.message.bytes=16777216")
			e.produceRecords(t, &kgo.Record{Topic: "big", Value: []byte("small before")}, &kgo.Record{Topic: "big", Value: big},
				&kgo.Record{Topic: "big", Value: []byte("small after")})
			e.runOnce(t, "STORE_MODE="+mode)
			got := e.archivedOf(t, "big")
			if len(got) != 3 || !bytes.Equal(got[1].rec.Message, big) || got[1].size != len(big) {
				t.Fatalf("archived %d messages; the big one %d bytes", len(got), len(got[min(1, len(got)-1)].rec.Message))
			}
			out, err := e.verb(t, "restore", "--topic", "big", "--to-topic", "big.restored")
			if err != nil || !strings.Contains(out, "restored 3 messages") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			back := e.consumeAll(t, "big.restored", 3)
			if len(back) != 3 || !bytes.Equal(back[1].Value, big) {
				t.Fatalf("read back %d messages", len(back))
			}
		})
	}
}

// TestTakenObjectKeys puts objects at the keys the archiver is about to
// use, as a run that died after writing and before indexing leaves them,
// or a message with a reused _id: the same bytes are indexed where they
// are, other bytes are left alone and the message goes to a variant key
// beside them. Every index row's object matches its sha256, and inspect
// and restore refuse a document that does not.
func TestTakenObjectKeys(t *testing.T) {
	for _, mode := range []string{"object", "segment"} {
		t.Run(mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			e.createTopic(t, "taken", 1)
			ts := time.UnixMilli(1700000000000)
			id := func(i byte) []byte { return []byte{i, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15} }
			var recs []*kgo.Record
			for i := range 3 {
				recs = append(recs, &kgo.Record{Topic: "taken", Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: ts,
					Headers: []kgo.RecordHeader{{Key: "_id", Value: id(byte(i))}}})
			}
			e.produceRecords(t, recs...)
			doc := func(i int) []byte {
				r, _ := store.FromMessage(kafka.Message{Topic: "taken", Offset: int64(i), Value: recs[i].Value, Time: ts,
					Headers: []kafka.Header{{Key: "_id", Value: id(byte(i))}}})
				b, err := r.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			put := func(key string, body []byte) {
				if err := e.store.Put(e.ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
					t.Fatal(err)
				}
			}
			var same, other string
			if mode == "object" {
				var u0, u1 store.UUID
				copy(u0[:], id(0))
				copy(u1[:], id(1))
				same, other = store.ObjectKey("archive", "taken", ts, u0), store.ObjectKey("archive", "taken", ts, u1)
				put(same, doc(0))
			} else {
				same = store.SegmentKey("archive", "taken", 0, 0, 2)
				other = same
			}
			put(other, []byte("left by something else"))
			e.runOnce(t, "STORE_MODE="+mode, "SEGMENT_BYTES=1048576")
			got := e.archivedOf(t, "taken")
			if len(got) != 3 {
				t.Fatalf("archived %d of 3", len(got))
			}
			for i, a := range got {
				if string(a.rec.Message) != fmt.Sprintf("v%d", i) {
					t.Fatalf("row %d holds %q", i, a.rec.Message)
				}
				if mode == "object" && i == 0 && a.key != same {
					t.Fatalf("message 0 at %s, want the object already holding its bytes, %s", a.key, same)
				}
				if a.key == other {
					t.Fatalf("message %d indexed at %s, which holds other bytes", i, other)
				}
			}
			rc, err := e.store.Open(e.ctx, other)
			if err != nil {
				t.Fatal(err)
			}
			left, _ := io.ReadAll(rc)
			rc.Close()
			if string(left) != "left by something else" {
				t.Fatalf("the object in the way was changed: %q", left)
			}
			// Damage a stored document: inspect and restore say so.
			victim := got[2]
			var off, length int64
			var sum []byte
			if err := e.pool.QueryRow(e.ctx, `SELECT byte_offset, byte_length, sha256 FROM archive_messages WHERE key = $1 AND "offset" = 2`, victim.key).Scan(&off, &length, &sum); err != nil {
				t.Fatal(err)
			}
			rc, err = e.store.Open(e.ctx, victim.key)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(rc)
			rc.Close()
			if got := sha256.Sum256(body[off : off+length]); !bytes.Equal(got[:], sum) {
				t.Fatal("the stored document does not match its sha256 before it was damaged")
			}
			body[off+length-3] ^= 0xff // inside the last header's bytes: still decodes
			if err := e.store.Delete(e.ctx, victim.key); err != nil {
				t.Fatal(err)
			}
			put(victim.key, body)
			if out, err := e.verb(t, "inspect", victim.uuid.String()); err == nil || !strings.Contains(out, "do not match the index's sha256") {
				t.Fatalf("inspect of a damaged document: %v\n%s", err, out)
			}
			if out, err := e.verb(t, "restore", "--topic", "taken", "--to-topic", "taken.restored"); err == nil || !strings.Contains(out, "do not match the index's sha256") {
				t.Fatalf("restore of a damaged document: %v\n%s", err, out)
			}
		})
	}
}

// TestMetadataDeadlines puts a broker that accepts connections and never
// answers first in KAFKA_BROKERS: listing topics (list) and reading end
// offsets (status) go to the next one; with none other, they give up
// within their deadline and say so instead of hanging.
func TestMetadataDeadlines(t *testing.T) {
	e := newProcEnv(t, 1)
	e.produce("meta", 3, 10)
	e.runOnce(t, "STORE_MODE=object")
	real := e.brokers
	hung := testkit.Proxy(t, real[0])
	hung.Stall()
	e.brokers = append([]string{hung.Addr()}, real...)
	out, err := e.verb(t, "list")
	if err != nil || strings.Contains(out, "not reachable") || !regexp.MustCompile(`"meta"\s+3\s.*archived`).MatchString(out) {
		t.Fatalf("list with a hung first broker: %v\n%s", err, out)
	}
	out, err = e.verb(t, "status")
	if err != nil || !regexp.MustCompile(`"meta"\s+0\s+3\s+2\s+0\s`).MatchString(out) {
		t.Fatalf("status with a hung first broker: %v\n%s", err, out)
	}
	e.brokers = []string{hung.Addr()}
	for _, verb := range []string{"list", "status"} {
		start := time.Now()
		out, err := e.verb(t, verb)
		if err != nil || !strings.Contains(out, "Kafka not reachable") {
			t.Fatalf("%s with only a hung broker: %v\n%s", verb, err, out)
		}
		if d := time.Since(start); d > 45*time.Second {
			t.Fatalf("%s took %s with a hung broker", verb, d)
		}
	}
}

// TestAnnouncementsWaitForNATS stops NATS while the archiver stores
// messages: they are archived all the same, their announcements wait in
// the outbox, and once NATS is back every one reaches the ARCHIVE_STORED
// stream, acknowledged, each once and valid against its schema.
func TestAnnouncementsWaitForNATS(t *testing.T) {
	e := newProcEnv(t, 1)
	addr := testkit.FreeAddr(t)
	host, port := splitHostPort(t, addr)
	dir := t.TempDir()
	srv, err := testkit.StartNATS(host, port, dir)
	if err != nil {
		t.Fatal(err)
	}
	e.nats = srv.ClientURL()
	metrics, out := e.service(t, "STORE_MODE=object")
	e.produce("heralded", 5, 50)
	e.waitRows(t, "heralded", 5, out)
	srv.Shutdown()
	srv.WaitForShutdown()
	e.produceRange("heralded", 5, 25, 50, 20, 0)
	e.waitRows(t, "heralded", 25, out)
	var pending int
	deadline := time.Now().Add(30 * time.Second)
	for pending == 0 && time.Now().Before(deadline) {
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_outbox`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pending == 0 {
		t.Fatal("nothing waits in the outbox while NATS is down")
	}
	waiting := regexp.MustCompile(`tributary_topic_archiver_outbox_pending [1-9]`)
	body := scrape(t, metrics)
	for deadline := time.Now().Add(45 * time.Second); !waiting.MatchString(body) && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		body = scrape(t, metrics)
	}
	if !waiting.MatchString(body) {
		t.Errorf("outbox_pending does not show what waits:\n%s", grep(body, "outbox"))
	}
	if srv, err = testkit.StartNATS(host, port, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	deadline = time.Now().Add(60 * time.Second)
	for pending > 0 && time.Now().Before(deadline) {
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_outbox`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if pending > 0 {
		t.Fatalf("%d outbox entries left a minute after NATS came back; the archiver said:\n%s", pending, out)
	}
	events := streamEvents(t, srv.ClientURL(), "ARCHIVE_STORED")
	keys := map[string]int{}
	for _, ev := range events {
		testkit.CheckEvent(t, ev.subject, ev.data)
		keys[ev.msgID]++
	}
	if len(events) != 25 || len(keys) != 25 {
		t.Fatalf("the stream holds %d events for %d keys, want 25 of 25", len(events), len(keys))
	}
}

// TestMetricSeriesBounded: with METRIC_TOPICS=2, a third topic is counted
// under "_other"; the lag series of a deleted topic goes away. The
// cluster creates no topic by itself here: kafka-go's metadata requests
// would otherwise create the deleted topic again.
func TestMetricSeriesBounded(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	e := newProcEnvOn(t, cluster)
	for _, topic := range []string{"t-a", "t-b", "t-c"} {
		e.createTopic(t, topic, 1)
		e.produce(topic, 4, 10)
	}
	metrics, out := e.service(t, "STORE_MODE=object", "METRIC_TOPICS=2")
	for _, topic := range []string{"t-a", "t-b", "t-c"} {
		e.waitRows(t, topic, 4, out)
	}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		body = scrape(t, metrics)
		if strings.Contains(body, `lag{partition="all",topic="_other"} 0`) && strings.Contains(body, `lag{partition="0",topic="t-a"} 0`) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	msgs := grep(body, "tributary_topic_archiver_messages_total")
	if strings.Count(msgs, "\n") != 3 || !strings.Contains(msgs, `topic="_other"} 4`) {
		t.Fatalf("messages_total series with METRIC_TOPICS=2:\n%s", msgs)
	}
	lag := grep(body, "tributary_topic_archiver_lag{")
	if strings.Count(lag, "\n") != 3 {
		t.Fatalf("lag series:\n%s", lag)
	}
	e.deleteTopic(t, "t-a")
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		if body = scrape(t, metrics); !strings.Contains(body, `lag{partition="0",topic="t-a"}`) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the deleted topic's lag series stayed:\n%s\nthe archiver said:\n%s", grep(body, "tributary_topic_archiver_lag{"), out)
}

// scrape is the archiver's /metrics.
func scrape(t testing.TB, addr string) string {
	t.Helper()
	code, body := testkit.Probe(addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

func grep(body, what string) string {
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, what) && !strings.HasPrefix(l, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// streamEvent is one message a JetStream stream holds.
type streamEvent struct {
	subject, msgID string
	data           []byte
}

// streamEvents reads every message of a stream.
func streamEvents(t testing.TB, url, stream string) []streamEvent {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamEvent
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, streamEvent{subject: m.Subject(), msgID: m.Headers().Get(jetstream.MsgIDHeader), data: m.Data()})
			n++
		}
		if n == 0 {
			t.Fatalf("read %d of the stream's %d messages", len(out), info.State.Msgs)
		}
	}
	return out
}
