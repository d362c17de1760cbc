package store

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Keys must stay inside the topic's own prefix whatever the topic is
// called, and different topics must never share one.
func TestEscapeTopic(t *testing.T) {
	cases := map[string]string{
		"orders.v1":     "orders%2Ev1",
		"a/b":           "a%2Fb",
		"..":            "%2E%2E",
		"":              "%00empty",
		"x y*>\x00\xff": "x%20y%2A%3E%00%FF",
		"plain_NAME-1":  "plain_NAME-1",
		"%2E":           "%252E",
		"ünï":           "%C3%BCn%C3%AF",
	}
	seen := map[string]string{}
	for in, want := range cases {
		got := EscapeTopic(in)
		if got != want {
			t.Errorf("EscapeTopic(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, "/.") {
			t.Errorf("EscapeTopic(%q) = %q holds a separator", in, got)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q escape alike", in, other)
		}
		seen[got] = in
	}
	id := UUID{1, 2, 3}
	k := ObjectKey("/archive/", "../etc", time.UnixMilli(0), id)
	if k != "archive/%2E%2E%2Fetc/1970/01/01/"+id.String()+".bson" {
		t.Errorf("ObjectKey = %q", k)
	}
	if k := SegmentKey("", "t", 3, 10, 20); k != "t/p00003/00000000000000000010-00000000000000000020.bson" {
		t.Errorf("SegmentKey = %q", k)
	}
}

// The _id header rules: keep a valid one, add one when absent (the same
// one on redelivery), replace a malformed one and keep it as
// _original_id; every other header in order, duplicates and non-UTF-8
// kept, and the BSON document decodes to the same bytes.
func TestFromMessageAndBSONRoundTrip(t *testing.T) {
	valid := UUID{0xde, 0xad, 0xbe, 0xef, 9, 9, 0x4f, 9, 0x89, 9, 9, 9, 9, 9, 9, 9}
	base := kafka.Message{Topic: "t", Partition: 2, Offset: 7, Key: []byte{0xff, 0}, Value: []byte{0, 1, 0xfe}, Time: time.UnixMilli(1700000000123)}
	cases := []struct {
		name    string
		headers []kafka.Header
		check   func(t *testing.T, r Record, id UUID)
	}{
		{"kept", []kafka.Header{{Key: "a", Value: []byte{0xc3, 0x28}}, {Key: "_id", Value: valid[:]}, {Key: "a", Value: nil}}, func(t *testing.T, r Record, id UUID) {
			if id != valid || len(r.Headers) != 3 || string(r.Headers[1].Key) != "_id" || !bytes.Equal(r.Headers[0].Value, []byte{0xc3, 0x28}) {
				t.Fatalf("id %s headers %v", id, r.Headers)
			}
		}},
		{"added", nil, func(t *testing.T, r Record, id UUID) {
			if len(r.Headers) != 1 || string(r.Headers[0].Key) != "_id" || !bytes.Equal(r.Headers[0].Value, id[:]) {
				t.Fatalf("headers %v", r.Headers)
			}
			if id[6]>>4 != 4 || id[8]>>6 != 2 {
				t.Fatalf("%s is not laid out as a UUIDv4", id)
			}
			if _, again := FromMessage(base); again != id {
				t.Fatalf("a redelivery got id %s, first %s", again, id)
			}
			other := base
			other.Offset++
			if _, next := FromMessage(other); next == id {
				t.Fatal("two offsets share a generated id")
			}
		}},
		{"malformed", []kafka.Header{{Key: "_id", Value: []byte("short")}}, func(t *testing.T, r Record, id UUID) {
			if len(r.Headers) != 2 || !bytes.Equal(r.Headers[0].Value, id[:]) || string(r.Headers[1].Key) != "_original_id" || string(r.Headers[1].Value) != "short" {
				t.Fatalf("headers %v", r.Headers)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base
			m.Headers = c.headers
			r, id := FromMessage(m)
			c.check(t, r, id)
			if pid, ok := ProducerID(m); ok != (c.name == "kept") || (ok && pid != id) {
				t.Fatalf("ProducerID = %s %v for a %s id; FromMessage settled on %s", pid, ok, c.name, id)
			}
			doc, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unmarshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Message, m.Value) || !bytes.Equal(back.Key, m.Key) || back.Topic != "t" || back.Partition != 2 || back.Offset != 7 ||
				back.TimestampMS != 1700000000123 || !SameHeaders(back.Headers, r.Headers) {
				t.Fatalf("round trip: %+v, want %+v", back, r)
			}
			if got, ok := back.ID(); !ok || got != id {
				t.Fatalf("ID() = %s %v, want %s", got, ok, id)
			}
			km, sent := back.Kafka("restored")
			if !sent || km.Topic != "restored" || !bytes.Equal(km.Value, m.Value) || len(km.Headers) != len(r.Headers) || !km.Time.Equal(m.Time) {
				t.Fatalf("Kafka(): %+v", km)
			}
		})
	}
}

// An empty payload is stored as empty bytes, not as a missing field, so a
// restore sends a 0-byte message and not a null one.
func TestEmptyPayload(t *testing.T) {
	r, _ := FromMessage(kafka.Message{Topic: "t"})
	doc, _ := r.Marshal()
	back, _ := Unmarshal(doc)
	if back.Message == nil || len(back.Message) != 0 {
		t.Fatalf("message %v", back.Message)
	}
}

func TestSplitDocuments(t *testing.T) {
	var seg []byte
	var want [][]byte
	for i := 0; i < 3; i++ {
		r, _ := FromMessage(kafka.Message{Topic: "t", Offset: int64(i), Value: bytes.Repeat([]byte{byte(i)}, i*10)})
		doc, _ := r.Marshal()
		seg = append(seg, doc...)
		want = append(want, doc)
	}
	docs, err := SplitDocuments(seg)
	if err != nil || len(docs) != 3 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
	for i := range docs {
		if !bytes.Equal(docs[i], want[i]) {
			t.Fatalf("doc %d differs", i)
		}
	}
	if _, err := SplitDocuments(seg[:len(seg)-1]); err == nil {
		t.Fatal("a truncated segment was accepted")
	}
	u, err := ParseUUID(UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}.String())
	if err != nil || u != (UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}) {
		t.Fatalf("ParseUUID: %s %v", u, err)
	}
	if _, err := ParseUUID("nope"); err == nil {
		t.Fatal("ParseUUID accepted nope")
	}
}

// Marshal writes the document by hand for speed; archives written before
// (and every reader) know bson.Marshal's bytes, so the two must agree
// exactly, nils, empties, odd bytes and many headers included.
func TestMarshalMatchesBSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	records := []Record{
		{},
		{Message: []byte{}, Key: []byte{}, Headers: []Header{}},
		{Message: []byte{0}, Topic: "weird topic/ü\x00?", Partition: -1, Offset: math.MaxInt64, TimestampMS: -5,
			Headers: []Header{{Key: nil, Value: nil}, {Key: []byte{}, Value: []byte{}}, {Key: []byte{0xff}, Value: []byte{0xc3, 0x28}}}},
	}
	for i := 0; i < 200; i++ {
		r := Record{Message: bytesOf(rng.IntN(3000)), Topic: string(bytesOf(rng.IntN(20))), Partition: rng.Int32(), Offset: rng.Int64(), TimestampMS: rng.Int64()}
		if rng.IntN(3) > 0 {
			r.Key = bytesOf(rng.IntN(40))
		}
		for range rng.IntN(15) { // past ten, array keys get two digits
			r.Headers = append(r.Headers, Header{Key: bytesOf(rng.IntN(10)), Value: bytesOf(rng.IntN(50))})
		}
		records = append(records, r)
	}
	for i, r := range records {
		got, err := r.Marshal()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want, err := bson.Marshal(r)
		if err != nil {
			t.Fatalf("record %d: bson.Marshal: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: Marshal gave %d bytes %x…, bson.Marshal %d bytes %x…", i, len(got), got[:min(len(got), 64)], len(want), want[:min(len(want), 64)])
		}
		if cap(got) != len(got) {
			t.Fatalf("record %d: buffer of %d for %d bytes: the size estimate is off", i, cap(got), len(got))
		}
	}
}

// Generated ids are in the index of every archive written so far: the
// derivation must never change, or a redelivery after an upgrade would be
// stored a second time under a new id.
func TestDerivedIDIsStable(t *testing.T) {
	for _, c := range []struct {
		m    kafka.Message
		want string
	}{
		{kafka.Message{Topic: "t", Partition: 2, Offset: 7, Value: []byte{0, 1, 0xfe}, Time: time.UnixMilli(1700000000123)}, "0157fc67-de5f-4714-9fc0-274b2960a264"},
		{kafka.Message{Topic: "a.much.longer.topic.name.that.goes.past.the.stack.buffer.of.the.hash.input." + strings.Repeat("x", 42),
			Partition: 70000, Offset: 1 << 40, Time: time.UnixMilli(-5)}, "0e3d8ff5-d71d-48cd-a89d-d271b7f99cb1"},
	} {
		if _, id := FromMessage(c.m); id.String() != c.want {
			t.Errorf("%s/%d@%d: id %s, want %s", c.m.Topic, c.m.Partition, c.m.Offset, id, c.want)
		}
	}
}
