package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/store"
)

// awkward returns messages that exercise byte-for-byte storage: empty and
// binary payloads, non-UTF-8 keys and headers, repeated header keys, a
// malformed _id and none at all.
func awkward(n int) []kafka.Message {
	return messages(n, func(i int) kafka.Message {
		m := kafka.Message{Value: []byte(fmt.Sprintf("payload-%d", i)), Key: []byte{0xff, byte(i)}, Time: time.UnixMilli(1700000000000 + int64(i))}
		switch i % 5 {
		case 0:
			m.Value = []byte{}
		case 1:
			m.Value = bytes.Repeat([]byte{0, 0xfe, 0x80}, 100)
			m.Headers = []kafka.Header{{Key: "h", Value: []byte{0xc3, 0x28}}, {Key: "h", Value: []byte("second")}}
		case 2:
			id := newID()
			m.Headers = []kafka.Header{{Key: "_id", Value: id[:]}, {Key: "trace", Value: []byte("t-1")}}
		case 3:
			m.Headers = []kafka.Header{{Key: "_id", Value: []byte("not-a-uuid")}}
		}
		return m
	})
}

func TestArchiveRestoreRoundTrip(t *testing.T) {
	for _, mode := range []archive.Mode{archive.ObjectMode, archive.SegmentMode} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t)
			sent := awkward(60)
			e.produce("orders.v1", sent...)
			e.produce("vetoed.secrets", kafka.Message{Value: []byte("never read")})
			stop := e.archiver(mode)
			e.waitCount("orders.v1", 60, 30*time.Second)
			// A topic created while running is picked up.
			e.produce("late-topic", kafka.Message{Value: []byte("late")})
			e.waitCount("late-topic", 1, 30*time.Second)
			stop()
			if n := e.count("vetoed.secrets"); n != 0 {
				t.Fatalf("vetoed topic has %d archived messages", n)
			}

			// Every stored document decodes to exactly what was sent,
			// with an _id header added or kept.
			out, err := e.run("uuids", "--topic", "orders.v1")
			if err != nil {
				t.Fatal(err)
			}
			ids := lines(out)
			if len(ids) != 60 {
				t.Fatalf("uuids lists %d, want 60", len(ids))
			}
			byValue := map[string]kafka.Message{}
			for _, m := range sent {
				byValue[string(m.Value)+string(m.Key)] = m
			}
			for _, l := range ids {
				id, _ := store.ParseUUID(strings.Fields(l)[0])
				found, err := e.ix.Lookup(e.ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(found) != 1 {
					t.Fatalf("%d messages carry _id %s, want 1", len(found), id)
				}
				rec, _, err := readRecord(e.ctx, e.store, found[0])
				if err != nil {
					t.Fatal(err)
				}
				m, ok := byValue[string(rec.Message)+string(rec.Key)]
				if !ok {
					t.Fatalf("stored message %x was never sent", rec.Message)
				}
				if got, _ := rec.ID(); got != id {
					t.Fatalf("_id header %s, index %s", got, id)
				}
				var want []store.Header
				hasID := false
				for _, h := range m.Headers {
					if h.Key == "_id" && len(h.Value) != 16 {
						want = append(want, store.Header{Key: []byte("_id"), Value: id[:]}, store.Header{Key: []byte("_original_id"), Value: h.Value})
						hasID = true
						continue
					}
					hasID = hasID || h.Key == "_id"
					want = append(want, store.Header{Key: []byte(h.Key), Value: h.Value})
				}
				if !hasID {
					want = append(want, store.Header{Key: []byte("_id"), Value: id[:]})
				}
				if !store.SameHeaders(rec.Headers, want) {
					t.Fatalf("headers %v, want %v", rec.Headers, want)
				}
				if rec.TimestampMS != m.Time.UnixMilli() {
					t.Fatalf("timestamp %d, want %d", rec.TimestampMS, m.Time.UnixMilli())
				}
			}

			// Restore into a new topic and read it back: identical.
			out, err = e.run("restore", "--topic", "orders.v1", "--to-topic", "orders.restored")
			if err != nil || !strings.Contains(out, "restored 60 messages") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			got := readAll(t, e, "orders.restored", 60)
			for _, g := range got {
				rec, id := store.FromMessage(g)
				found, err := e.ix.Lookup(e.ctx, id)
				if err != nil {
					t.Fatalf("restored message's _id %s is not in the archive: %v", id, err)
				}
				orig, _, _ := readRecord(e.ctx, e.store, found[0])
				if !bytes.Equal(orig.Message, rec.Message) || !bytes.Equal(orig.Key, rec.Key) || !store.SameHeaders(orig.Headers, rec.Headers) || orig.TimestampMS != rec.TimestampMS {
					t.Fatalf("restored %s differs from the archive", id)
				}
			}

			// inspect prints the message and its headers.
			out, err = e.run("inspect", strings.Fields(ids[0])[0])
			if err != nil || !strings.Contains(out, `topic      "orders.v1"`) || !strings.Contains(out, "_id") {
				t.Fatalf("inspect: %v\n%s", err, out)
			}
			out, err = e.run("list")
			if err != nil || !regexp.MustCompile(`"orders.v1"\s+60\s`).MatchString(out) || !regexp.MustCompile(`"vetoed.secrets"\s+0\s.*vetoed`).MatchString(out) {
				t.Fatalf("list: %v\n%s", err, out)
			}
		})
	}
}

// readAll consumes n messages of a topic from the start, all partitions.
func readAll(t *testing.T, e *env, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, GroupID: "reader-" + topic, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for len(out) < n {
		ctx, cancel := contextWithTimeout(e, 20*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read %s after %d messages: %v", topic, len(out), err)
		}
		out = append(out, m)
	}
	return out
}

// TestRestoreKeepsOffsetOrder has producers set timestamps that go
// backwards within each partition, as several producers or clock skew
// make them: restore must replay each partition in its offset order, so
// the restored topic's partitions hold the same messages in the same
// order, byte for byte.
func TestRestoreKeepsOffsetOrder(t *testing.T) {
	e := newEnv(t)
	const parts, per = 4, 25
	base := time.UnixMilli(1700000000000)
	var sent []kafka.Message
	for p := 0; p < parts; p++ {
		for i := 0; i < per; i++ {
			id := newID()
			// Mostly backwards, with a repeat and a jump forwards, so
			// neither time order nor its reverse is offset order.
			ms := int64(per-i) * 1000
			switch i % 6 {
			case 2:
				ms += 1000 // same as the one before
			case 4:
				ms += 60_000
			}
			sent = append(sent, kafka.Message{Partition: p, Key: []byte(fmt.Sprintf("k%d-%d", p, i)),
				Value: []byte(fmt.Sprintf("p%d-i%d\xff", p, i)), Time: base.Add(time.Duration(ms) * time.Millisecond),
				Headers: []kafka.Header{{Key: "_id", Value: id[:]}, {Key: "seq", Value: []byte(fmt.Sprint(i))}}})
		}
	}
	w := writer(e.tools, "skewed")
	w.Balancer = kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int { return partitions[m.Partition%len(partitions)] })
	if err := produce(e.ctx, w, sent); err != nil {
		t.Fatal(err)
	}
	w.Close()
	original := readPartitions(t, e, "skewed", parts, per)
	for p, msgs := range original {
		if msgs[1].Time.After(msgs[0].Time) || !msgs[1].Time.Before(msgs[0].Time) {
			t.Fatalf("partition %d: timestamps do not go backwards as produced: %v, %v", p, msgs[0].Time, msgs[1].Time)
		}
	}
	stop := e.archiver(archive.SegmentMode)
	e.waitCount("skewed", parts*per, 30*time.Second)
	stop()

	out, err := e.run("restore", "--topic", "skewed", "--to-topic", "skewed.restored")
	if err != nil || !strings.Contains(out, fmt.Sprintf("restored %d messages", parts*per)) {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	restored := readPartitions(t, e, "skewed.restored", parts, per)
	for p := 0; p < parts; p++ {
		for i, want := range original[p] {
			got := restored[p][i]
			if !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Key, want.Key) || !got.Time.Equal(want.Time) || !sameKafkaHeaders(got.Headers, want.Headers) {
				t.Fatalf("restored partition %d offset %d is %q at %v, want %q at %v (the original's offset order)",
					p, i, got.Value, got.Time, want.Value, want.Time)
			}
		}
	}
}

// readPartitions reads the first n messages of each of a topic's
// partitions, in offset order, as an outside consumer.
func readPartitions(t *testing.T, e *env, topic string, parts, n int) [][]kafka.Message {
	t.Helper()
	out := make([][]kafka.Message, parts)
	for p := range out {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for len(out[p]) < n {
			ctx, cancel := contextWithTimeout(e, 20*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d after %d messages: %v", topic, p, len(out[p]), err)
			}
			out[p] = append(out[p], m)
		}
		r.Close()
	}
	return out
}

func sameKafkaHeaders(a, b []kafka.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// TestAnnouncedSizeIsStoredBytes holds archive.stored to its schema: size
// is the bytes stored at bucket/key (from byte_offset, in object mode the
// whole object), which a consumer fetches; every stored message is
// announced once.
func TestAnnouncedSizeIsStoredBytes(t *testing.T) {
	for _, mode := range []archive.Mode{archive.ObjectMode, archive.SegmentMode} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t)
			e.produce("sized", awkward(40)...)
			stop := e.archiver(mode)
			e.waitCount("sized", 40, 30*time.Second)
			stop()
			objectLen := func(key string) int {
				rc, err := e.store.Open(e.ctx, key)
				if err != nil {
					t.Fatalf("announced key %s: %v", key, err)
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				return len(b)
			}
			messages := 0
			for _, a := range e.announced() {
				if a.subject != "archive.stored.sized" {
					t.Fatalf("announced on %s", a.subject)
				}
				if mode == archive.ObjectMode {
					var ev archive.Stored
					if err := json.Unmarshal(a.payload, &ev); err != nil {
						t.Fatal(err)
					}
					id, _ := store.ParseUUID(ev.UUID)
					found, err := e.ix.Lookup(e.ctx, id)
					if err != nil {
						t.Fatalf("announced %s: %v", ev.UUID, err)
					}
					row := found[0]
					if n := objectLen(ev.Key); ev.Size != n || ev.ByteOffset != 0 || ev.ByteLength != int64(n) || row.Key != ev.Key {
						t.Fatalf("announced %s: size %d, range %d+%d of %s; the object has %d bytes and the index says %s",
							ev.UUID, ev.Size, ev.ByteOffset, ev.ByteLength, ev.Key, n, row.Key)
					}
					messages++
					continue
				}
				var ev archive.SegmentStored
				if err := json.Unmarshal(a.payload, &ev); err != nil {
					t.Fatal(err)
				}
				var rows int
				if err := e.ix.Pool().QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE key = $1`, ev.Key).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if n := objectLen(ev.Key); ev.Size != n || ev.Count != rows {
					t.Fatalf("announced segment %s: size %d, count %d; the object has %d bytes, the index %d rows", ev.Key, ev.Size, ev.Count, n, rows)
				}
				messages += ev.Count
			}
			if messages != 40 {
				t.Fatalf("announcements cover %d messages, want the 40 stored", messages)
			}
		})
	}
}
