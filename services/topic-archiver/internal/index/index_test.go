package index

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/topic-archiver/internal/store"
	"tributary.dev/services/topic-archiver/migrations"
)

func row(i int, topic string) Row {
	var id store.UUID
	copy(id[:], fmt.Sprintf("id-%s-%06d", topic, i))
	return Row{UUID: id, Topic: topic, Partition: 1, Offset: int64(i), Time: time.UnixMilli(1700000000000 + int64(i)).UTC(),
		Bucket: "b", Key: "k", ByteLength: 10, Size: 3, SHA256: []byte{1, 2, 3}, Headers: map[string][]string{"h": {"v"}}}
}

// COPY takes a clean batch; a batch overlapping what is indexed — by
// offset or by uuid — falls back to INSERT … ON CONFLICT and reports just
// the new rows, leaving the rest untouched.
func TestInsertReportsOnlyNewRows(t *testing.T) {
	ctx := context.Background()
	pool := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "topic-archiver"}).Pool
	ix := New(pool)
	first := []Row{row(0, "t"), row(1, "t"), row(2, "t")}
	got, err := ix.Insert(ctx, first)
	if err != nil || len(got) != 3 {
		t.Fatalf("first insert: %d new, %v", len(got), err)
	}
	sameID := row(9, "t")
	sameID.UUID = first[0].UUID // a producer resending an _id at a new offset
	sameOffset := row(1, "t")
	copy(sameOffset.UUID[:], "another-id-00001") // a new id at an archived offset
	second := []Row{sameID, sameOffset, row(3, "t"), row(4, "t")}
	got, err = ix.Insert(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[row(3, "t").UUID] || !got[row(4, "t").UUID] {
		t.Fatalf("second insert reported %d new rows, want offsets 3 and 4", len(got))
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM archive_messages`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d rows, %v; want 5", n, err)
	}
	refs, ids, err := ix.Known(ctx, []Ref{{"t", 1, 4}, {"t", 1, 7}}, []store.UUID{first[2].UUID, row(8, "t").UUID})
	if err != nil || len(refs) != 1 || !refs[Ref{"t", 1, 4}] || len(ids) != 1 || !ids[first[2].UUID] {
		t.Fatalf("Known: %v %v %v", refs, ids, err)
	}
	refs, ids, err = ix.Known(ctx, []Ref{{"t", 1, 0}, {"t", 1, 9}}, nil)
	if err != nil || len(refs) != 1 || !refs[Ref{"t", 1, 0}] || ids == nil || len(ids) != 0 {
		t.Fatalf("Known without ids: %v %v %v", refs, ids, err)
	}
}

// Insert writes COPY's binary format by hand: every column must read back
// as it went in — times before 2000 and past 2038, a null Kafka key's
// empty headers, several values of one header, non-ASCII text — and
// equal to what the INSERT fallback stores for the same row.
func TestInsertKeepsEveryColumn(t *testing.T) {
	ctx := context.Background()
	pool := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "topic-archiver"}).Pool
	ix := New(pool)
	times := []time.Time{time.UnixMilli(1700000000123).UTC(), time.UnixMilli(-5).UTC(), time.UnixMilli(0).UTC(),
		time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(2100, 1, 2, 3, 4, 5, 6_000_000, time.UTC)}
	headers := []map[string][]string{nil, {}, {"h": {"v"}}, {"a": {"1", "2"}, "ünï": {"çödé \"quoted\" <&>"}}, {"e": {""}}}
	var copied, inserted []Row
	for i := range times {
		r := Row{Topic: "tøpic.x", Partition: int32(i * 1000), Offset: int64(i) << 40, Time: times[i], Bucket: "bücket", Key: fmt.Sprintf("k/%d.bson", i),
			ByteOffset: int64(i) * 1 << 33, ByteLength: int64(i) + 5, Size: i * 70000, SHA256: []byte(fmt.Sprintf("%032d", i)), Headers: headers[i]}
		copy(r.UUID[:], fmt.Sprintf("copy-%011d", i))
		copied = append(copied, r)
		r.Topic, r.Key = "via-insert", r.Key+"-i"
		copy(r.UUID[:], fmt.Sprintf("insr-%011d", i))
		inserted = append(inserted, r)
	}
	if got, err := ix.Insert(ctx, copied); err != nil || len(got) != len(copied) {
		t.Fatalf("COPY: %d new, %v", len(got), err)
	}
	if got, err := ix.insertNew(ctx, inserted); err != nil || len(got) != len(inserted) {
		t.Fatalf("INSERT: %d new, %v", len(got), err)
	}
	for i, want := range copied {
		got, err := ix.Lookup(ctx, want.UUID)
		if err != nil {
			t.Fatal(err)
		}
		var h, hInserted string
		if err := pool.QueryRow(ctx, `SELECT headers::text FROM archive_messages WHERE uuid = $1`, want.UUID[:]).Scan(&h); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT headers::text FROM archive_messages WHERE uuid = $1`, inserted[i].UUID[:]).Scan(&hInserted); err != nil {
			t.Fatal(err)
		}
		wantH, _ := json.Marshal(want.Headers)
		if len(want.Headers) == 0 {
			wantH = []byte("{}")
		}
		var same bool
		if err := pool.QueryRow(ctx, `SELECT $1::jsonb = $2::jsonb`, h, string(wantH)).Scan(&same); err != nil || !same || h != hInserted {
			t.Errorf("row %d: headers %s, want %s (the INSERT path stored %s)", i, h, wantH, hInserted)
		}
		got.Headers = want.Headers
		if !got.Time.Equal(want.Time) {
			t.Errorf("row %d: time %s, want %s", i, got.Time, want.Time)
		}
		got.Time = want.Time
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// Known asks by offset ranges; offsets inside a range the batch did not
// hold must not come back, and offsets far apart in one partition are
// separate ranges.
func TestKnownByRanges(t *testing.T) {
	ctx := context.Background()
	ix := New(svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "topic-archiver"}).Pool)
	var rows []Row
	for i := 0; i < 100; i += 2 { // even offsets of partition 1 archived
		rows = append(rows, row(i, "t"))
	}
	other := row(1, "u") // same partition and offset, another topic
	rows = append(rows, other)
	if _, err := ix.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	refs := []Ref{{"t", 1, 1}, {"t", 1, 3}, {"t", 1, 4}, {"t", 1, 97}, {"t", 1, 98}, {"t", 1, 5000}, {"t", 2, 4}, {"u", 1, 1}, {"u", 1, 2}}
	got, _, err := ix.Known(ctx, refs, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Ref]bool{{"t", 1, 4}: true, {"t", 1, 98}: true, {"u", 1, 1}: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Known = %v, want %v", got, want)
	}
	spans := offsetSpans([]Ref{{"t", 1, 200}, {"t", 1, 1}, {"t", 1, 60}, {"t", 1, 65}, {"t", 2, 3}, {"s", 1, 7}})
	wantSpans := []span{{"s", 1, 7, 7}, {"t", 1, 1, 65}, {"t", 1, 200, 200}, {"t", 2, 3, 3}}
	if !reflect.DeepEqual(spans, wantSpans) {
		t.Fatalf("offsetSpans = %v, want %v", spans, wantSpans)
	}
}
