package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

// Every key the archiver makes parses back into what it was made from,
// whatever the topic is called; anything else under the root is refused.
func TestParseKeyRoundTrip(t *testing.T) {
	id, _ := ParseUUID("0b8c7c1e-6f4e-4a43-9f3e-2d1c2b3a4f5e")
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	for _, root := range []string{"", "archive", "a/b"} {
		for _, topic := range []string{"orders.v1", "", "..", "a/b", "x y*>\x00\xff", "%2E", "ünï", "plain_NAME-1"} {
			k, err := ParseKey(root, ObjectKey(root, topic, day.Add(13*time.Hour), id))
			if err != nil {
				t.Fatalf("object key of %q under %q: %v", topic, root, err)
			}
			if k.Segment || k.Topic != topic || k.UUID != id || !k.Day.Equal(day) {
				t.Fatalf("object key of %q under %q parsed as %+v", topic, root, k)
			}
			k, err = ParseKey(root, SegmentKey(root, topic, 7, 1200, 1299))
			if err != nil {
				t.Fatalf("segment key of %q under %q: %v", topic, root, err)
			}
			if !k.Segment || k.Topic != topic || k.Partition != 7 || k.First != 1200 || k.Last != 1299 {
				t.Fatalf("segment key of %q under %q parsed as %+v", topic, root, k)
			}
		}
	}
	for _, key := range []string{
		"other/orders%2Ev1/p00000/00000000000000000001-00000000000000000002.bson",   // another root
		"archive/orders.v1/p00000/00000000000000000001-00000000000000000002.bson",   // unescaped dot
		"archive/orders%2ev1/p00000/00000000000000000001-00000000000000000002.bson", // lower-case escape
		"archive/orders%2Ev1/p0/00000000000000000001-00000000000000000002.bson",     // short partition
		"archive/orders%2Ev1/p00000/00000000000000000002-00000000000000000001.bson", // first after last
		"archive/orders%2Ev1/p00000/1-2.bson",
		"archive/orders%2Ev1/2024/13/01/0b8c7c1e-6f4e-4a43-9f3e-2d1c2b3a4f5e.bson",
		"archive/orders%2Ev1/2024/01/01/not-a-uuid.bson",
		"archive/orders%2Ev1/2024/01/01/0b8c7c1e-6f4e-4a43-9f3e-2d1c2b3a4f5e.json",
		"archive/orders%2Ev1/notes.txt",
		"archive/orders%2Ev1/2024/01/01/0B8C7C1E-6F4E-4A43-9F3E-2D1C2B3A4F5E.bson",
	} {
		if k, err := ParseKey("archive", key); err == nil {
			t.Errorf("ParseKey(%q) = %+v, want an error", key, k)
		}
	}
}

// The archive.stored schema's examples are what a consumer copies: their
// keys must be keys the archiver writes (under bucket_path "archive"),
// naming the same topic, partition, offsets, id and day as the event.
func TestSchemaExampleKeysParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testkit.RepoRoot(), "proto", "events", "archive.stored.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Examples []struct {
			UUID        string `json:"uuid"`
			Topic       string `json:"topic"`
			Partition   int    `json:"partition"`
			TimestampMS int64  `json:"timestamp_ms"`
			Key         string `json:"key"`
			FirstOffset int64  `json:"first_offset"`
			LastOffset  int64  `json:"last_offset"`
		} `json:"examples"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if len(schema.Examples) < 2 {
		t.Fatalf("%d examples, want one per kind of event", len(schema.Examples))
	}
	for _, ex := range schema.Examples {
		k, err := ParseKey("archive", ex.Key)
		if err != nil {
			t.Errorf("example key: %v", err)
			continue
		}
		if k.Topic != ex.Topic {
			t.Errorf("example key %q is of topic %q, the event says %q", ex.Key, k.Topic, ex.Topic)
		}
		if ex.UUID == "" {
			if !k.Segment || k.Partition != ex.Partition || k.First != ex.FirstOffset || k.Last != ex.LastOffset {
				t.Errorf("segment example key %q parses as %+v, the event says partition %d offsets %d-%d", ex.Key, k, ex.Partition, ex.FirstOffset, ex.LastOffset)
			}
			continue
		}
		day := time.UnixMilli(ex.TimestampMS).UTC().Truncate(24 * time.Hour)
		if k.Segment || k.UUID.String() != ex.UUID || !k.Day.Equal(day) {
			t.Errorf("message example key %q parses as %+v, the event says uuid %s on %s", ex.Key, k, ex.UUID, day.Format("2006-01-02"))
		}
	}
}
