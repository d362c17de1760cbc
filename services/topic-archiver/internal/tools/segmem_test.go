package tools

import (
	"testing"
	"time"

	"tributary.dev/services/topic-archiver/internal/archive"
)

// With segments that neither fill nor age, SEGMENT_MEMORY alone must get
// messages written: the biggest open segments go out early, every message
// is indexed once, and the bytes in S3 are what was indexed.
func TestSegmentMemoryCapWritesEarly(t *testing.T) {
	e := newEnv(t)
	e.produce("busy", payloads(400, 1000, "m")...)
	stop := e.archiver(archive.SegmentMode, func(c *archive.Config) {
		c.SegmentBytes, c.SegmentAge, c.SegmentMemory, c.BatchSize = 64<<20, time.Hour, 40<<10, 20
	})
	// 400 kB against a 40 kB cap: once everything is fetched, at most the
	// cap's worth — 40 documents of more than 1,000 B each — may still be
	// open, long before the hour-long age limit, while the archiver is
	// still running. (An add that crosses the cap writes down to half of
	// it, but the last add need not cross it: how the stream splits into
	// batches decides, and a byte-sized fetch queue on a busy machine
	// splits it unevenly.)
	deadline := time.Now().Add(30 * time.Second)
	for e.count("busy") < 360 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := e.count("busy"); n < 360 {
		t.Fatalf("only %d of 400 messages written with a 40 kB segment memory cap", n)
	}
	stop() // writes the segments still open
	if n := e.count("busy"); n != 400 {
		t.Fatalf("%d messages indexed, want 400", n)
	}
	if objs := e.objects(); objs < 8 {
		t.Fatalf("%d segment objects for 400 kB under a 40 kB cap, want at least 8", objs)
	}
	out, err := e.run("uuids", "--topic", "busy", "--limit", "1000")
	if err != nil || len(lines(out)) != 400 {
		t.Fatalf("uuids: %v, %d lines", err, len(lines(out)))
	}
	for _, l := range lines(out)[:20] {
		if _, err := e.run("inspect", l[:36]); err != nil {
			t.Fatalf("inspect %s: %v", l[:36], err)
		}
	}
}
