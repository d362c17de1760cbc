package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"tributary.dev/services/topic-archiver/internal/store"
)

// produceValues sends one message per value to partition p of topic.
func (e *procEnv) produceValues(t testing.TB, topic string, p int32, vals ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(vals))
	for i, v := range vals {
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte(v), Key: []byte(fmt.Sprint(i))}
	}
	e.produceRecords(t, recs...)
}

// wantArchived checks that topic's archive holds exactly the values
// given per topic id, each once, at offsets 0, 1, … of partition 0 in
// the order given.
func wantArchived(t *testing.T, got []archived, byID map[store.UUID][]string) {
	t.Helper()
	n := 0
	for id, vals := range byID {
		var have []string
		for _, a := range got {
			if a.topicID != id {
				continue
			}
			if a.offset != int64(len(have)) || a.partition != 0 {
				t.Fatalf("under %s: %q at %d@%d, want offset %d", id, a.rec.Message, a.partition, a.offset, len(have))
			}
			have = append(have, string(a.rec.Message))
		}
		if strings.Join(have, ",") != strings.Join(vals, ",") {
			t.Fatalf("under topic id %s the archive holds %q, want %q", id, have, vals)
		}
		n += len(vals)
	}
	if len(got) != n {
		t.Fatalf("the archive holds %d messages, want %d", len(got), n)
	}
}

// TestRecreatedTopicIsArchived deletes a topic after it was archived,
// creates it again under the same name and produces to it: its offsets
// start again at 0, and its messages must be stored beside the old
// topic's — under the broker's new topic id — not taken for their
// duplicates. Once with the archiver stopped while it happens, once with
// it running throughout.
func TestRecreatedTopicIsArchived(t *testing.T) {
	for _, mode := range []string{"object", "segment"} {
		t.Run("stopped/"+mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			e.createTopic(t, "reborn", 1)
			e.produceValues(t, "reborn", 0, "old-0", "old-1", "old-2", "old-3", "old-4")
			oldID := e.topicID(t, "reborn")
			e.runOnce(t, "STORE_MODE="+mode)

			e.deleteTopic(t, "reborn")
			e.createTopic(t, "reborn", 1)
			newID := e.topicID(t, "reborn")
			if newID == oldID {
				t.Fatal("the broker gave the recreated topic its old id")
			}
			e.produceValues(t, "reborn", 0, "new-0", "new-1", "new-2")
			e.runOnce(t, "STORE_MODE="+mode)
			wantArchived(t, e.archivedOf(t, "reborn"), map[store.UUID][]string{oldID: {"old-0", "old-1", "old-2", "old-3", "old-4"}, newID: {"new-0", "new-1", "new-2"}})

			// A third run finds nothing new: both are recognised.
			e.runOnce(t, "STORE_MODE="+mode)
			if n := len(e.archivedOf(t, "reborn")); n != 8 {
				t.Fatalf("a run over an archived recreated topic left %d rows, want 8", n)
			}
			// Restore replays the old topic, then the new one.
			out, err := e.verb(t, "restore", "--topic", "reborn", "--to-topic", "reborn.replay")
			if err != nil || !strings.Contains(out, "restored 8 messages") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			var replayed []string
			for _, r := range e.consumeAll(t, "reborn.replay", 8) {
				replayed = append(replayed, string(r.Value))
			}
			if got := strings.Join(replayed, ","); got != "old-0,old-1,old-2,old-3,old-4,new-0,new-1,new-2" {
				t.Fatalf("restored in the order %s", got)
			}
		})
	}
	t.Run("running", func(t *testing.T) {
		e := newProcEnv(t, 1)
		e.createTopic(t, "reborn", 1)
		e.produceValues(t, "reborn", 0, "old-0", "old-1", "old-2", "old-3", "old-4", "old-5")
		oldID := e.topicID(t, "reborn")
		_, out := e.service(t, "STORE_MODE=segment", "SEGMENT_SECONDS=0.3")
		e.waitRows(t, "reborn", 6, out)

		e.deleteTopic(t, "reborn")
		e.createTopic(t, "reborn", 1)
		newID := e.topicID(t, "reborn")
		// More messages than the old topic had: a reader left at the old
		// position would skip the first six.
		vals := make([]string, 9)
		for i := range vals {
			vals[i] = fmt.Sprintf("new-%d", i)
		}
		e.produceValues(t, "reborn", 0, vals...)
		e.waitRows(t, "reborn", 15, out)
		time.Sleep(2 * time.Second) // nothing more must come
		// Each message once. The new topic's first six, at offsets the
		// old one had, can only be told from the old messages by their
		// content and are under the new id; messages fetched between the
		// re-creation and the archiver noticing it may be under the old
		// id, which is neither a loss nor a double.
		got := e.archivedOf(t, "reborn")
		seen := map[string]int{}
		for _, a := range got {
			v := string(a.rec.Message)
			seen[v]++
			i := -1
			fmt.Sscanf(v, "new-%d", &i)
			switch {
			case strings.HasPrefix(v, "old-"):
				if a.topicID != oldID {
					t.Errorf("%s under %s, want the old id", v, a.topicID)
				}
			case i < 6:
				if a.topicID != newID {
					t.Errorf("%s under %s, want the new id %s", v, a.topicID, newID)
				}
			default:
				if a.topicID != newID && a.topicID != oldID {
					t.Errorf("%s under %s, an id the topic never had", v, a.topicID)
				}
			}
			if a.offset != int64(i) && strings.HasPrefix(v, "new-") {
				t.Errorf("%s archived at offset %d", v, a.offset)
			}
		}
		for _, v := range append([]string{"old-0", "old-1", "old-2", "old-3", "old-4", "old-5"}, vals...) {
			if seen[v] != 1 {
				t.Errorf("%s archived %d times, want once", v, seen[v])
			}
		}
	})
}

// waitRows waits until the index holds n messages of topic.
func (e *procEnv) waitRows(t testing.TB, topic string, n int, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var got int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE topic = $1`, topic).Scan(&got); err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("the index holds %d messages of %s, want %d; the archiver said:\n%s", got, topic, n, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReusedIDsAreStored has producers reuse _id values: one id on two
// different payloads, the all-zero id on two, an id sent twice in one
// message. Each different message is stored (object mode: the second
// under a variant key beside the first's), an exact resend of a message
// with its id is not, inspect lists every message carrying an id, and a
// restored message carries one _id, its other headers as they were.
func TestReusedIDsAreStored(t *testing.T) {
	id := store.UUID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	other := store.UUID{0xab, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15}
	zero := store.UUID{}
	ts := time.UnixMilli(1700000000000)
	msg := func(v string, hs ...kafka.Header) kafka.Message {
		return kafka.Message{Value: []byte(v), Time: ts, Headers: hs}
	}
	h := func(k string, v []byte) kafka.Header { return kafka.Header{Key: k, Value: v} }
	sent := []kafka.Message{
		msg("first", h("_id", id[:]), h("dup", []byte("a")), h("dup", []byte("b"))),
		msg("second", h("_id", id[:])),                                              // the id reused on another payload: stored
		msg("first", h("_id", id[:]), h("dup", []byte("a")), h("dup", []byte("b"))), // a resend: a duplicate
		msg("zero-a", h("_id", zero[:])),
		msg("zero-b", h("_id", zero[:])),
		msg("two-ids", h("_id", other[:]), h("x", []byte("1")), h("_id", id[:])),
	}
	for _, mode := range []string{"object", "segment"} {
		t.Run(mode, func(t *testing.T) {
			e := newProcEnv(t, 1)
			w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: "ids", AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
			for i := 0; i < 40; i++ {
				if err := w.WriteMessages(e.ctx, sent...); err == nil {
					break
				} else if i == 39 {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			w.Close()
			e.runOnce(t, "STORE_MODE="+mode)
			got := e.archivedOf(t, "ids")
			var vals []string
			keys := map[string]bool{}
			for _, a := range got {
				vals = append(vals, string(a.rec.Message))
				keys[a.key] = true
			}
			if strings.Join(vals, ",") != "first,second,zero-a,zero-b,two-ids" {
				t.Fatalf("archived %q, want every message but the resend", vals)
			}
			if mode == "object" && len(keys) != 5 {
				t.Fatalf("%d objects for 5 messages: a reused id's key was shared", len(keys))
			}
			plain := store.ObjectKey("archive", "ids", ts, id)
			withID := map[string]bool{}
			for _, a := range got {
				if v := string(a.rec.Message); v == "first" || v == "second" {
					withID[a.key] = true
				}
			}
			if mode == "object" && (len(withID) != 2 || !withID[plain]) {
				t.Errorf("the two messages with id %s are at %v, want %s and a variant beside it", id, withID, plain)
			}
			for _, a := range got {
				var ids int
				for _, hd := range a.rec.Headers {
					if string(hd.Key) == "_id" {
						ids++
					}
				}
				if ids != 1 {
					t.Fatalf("%q stored with %d _id headers", a.rec.Message, ids)
				}
				if string(a.rec.Message) == "two-ids" {
					want := []store.Header{{Key: []byte("_id"), Value: other[:]}, {Key: []byte("x"), Value: []byte("1")}, {Key: []byte("_original_id"), Value: id[:]}}
					if !store.SameHeaders(a.rec.Headers, want) {
						t.Fatalf("two _ids stored as %v", a.rec.Headers)
					}
				}
			}
			out, err := e.verb(t, "inspect", id.String())
			if err != nil || !strings.Contains(out, "2 archived messages carry _id "+id.String()) || !strings.Contains(out, `"first"`) || !strings.Contains(out, `"second"`) {
				t.Fatalf("inspect a reused id: %v\n%s", err, out)
			}
			if out, err := e.verb(t, "inspect", "--raw", zero.String()); err == nil || !strings.Contains(out, "2 archived messages carry _id") {
				t.Fatalf("inspect --raw of an id two messages carry: %v\n%s", err, out)
			}
			out, err = e.verb(t, "restore", "--topic", "ids", "--to-topic", "ids.replay")
			if err != nil || !strings.Contains(out, "restored 5 messages") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			for _, r := range e.consumeAll(t, "ids.replay", 5) {
				var ids []string
				var dups []string
				for _, hd := range r.Headers {
					switch hd.Key {
					case "_id":
						ids = append(ids, fmt.Sprintf("%x", hd.Value))
					case "dup":
						dups = append(dups, string(hd.Value))
					}
				}
				if len(ids) != 1 {
					t.Fatalf("restored %q carries %d _id headers", r.Value, len(ids))
				}
				if bytes.Equal(r.Value, []byte("first")) && strings.Join(dups, ",") != "a,b" {
					t.Fatalf("restored %q has dup headers %v, want a,b", r.Value, dups)
				}
			}
		})
	}
}
