package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/topic-archiver/internal/store"
	"tributary.dev/services/topic-archiver/migrations"
)

func row(i int, topic string) Row {
	var id store.UUID
	copy(id[:], fmt.Sprintf("id-%s-%06d", topic, i))
	return Row{UUID: id, Topic: topic, TopicID: store.UUID{0xaa}, Partition: 1, Offset: int64(i), Time: time.UnixMilli(1700000000000 + int64(i)).UTC(),
		Bucket: "b", Key: "k", ByteLength: 10, Size: 3, SHA256: []byte{1, 2, 3}, PayloadSHA256: payload(i), Headers: map[string][]string{"h": {"v"}}}
}

func payload(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 32) }

func ask(r Row) IDAsk {
	a := IDAsk{ID: r.UUID}
	copy(a.Payload[:], r.PayloadSHA256)
	return a
}

func newIndex(t *testing.T) (*Index, *pgxpool.Pool) {
	pool := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "topic-archiver"}).Pool
	return New(pool), pool
}

// A row is unique by its place — topic, partition, offset and the topic's
// id — and by nothing else: COPY takes a clean batch; a batch overlapping
// what is indexed falls back to INSERT … ON CONFLICT and reports just the
// new rows. An _id already indexed is no conflict (producers reuse them),
// and neither is an archived offset under another topic id (the topic was
// created again).
func TestInsertReportsOnlyNewRows(t *testing.T) {
	ctx := context.Background()
	ix, pool := newIndex(t)
	first := []Row{row(0, "t"), row(1, "t"), row(2, "t")}
	got, err := ix.Insert(ctx, first, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("first insert: %d new, %v", len(got), err)
	}
	sameID := row(9, "t")
	sameID.UUID = first[0].UUID // a producer reusing an _id at a new offset
	sameOffset := row(1, "t")
	copy(sameOffset.UUID[:], "another-id-00001") // a new id at an archived offset
	recreated := row(2, "t")
	recreated.TopicID = store.UUID{0xbb} // offset 2 of the topic created again
	second := []Row{sameID, sameOffset, recreated, row(3, "t"), row(4, "t")}
	got, err = ix.Insert(ctx, second, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Place]bool{sameID.Place(): true, recreated.Place(): true, row(3, "t").Place(): true, row(4, "t").Place(): true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("second insert reported %v, want %v", got, want)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM archive_messages`).Scan(&n); err != nil || n != 7 {
		t.Fatalf("%d rows, %v; want 7", n, err)
	}
	other := ask(first[0])
	other.Payload[0] = 0xff // the reused id with a payload nobody sent
	k, err := ix.Known(ctx, []Ref{{"t", 1, 2}, {"t", 1, 7}}, []IDAsk{ask(first[0]), other, ask(row(8, "t"))})
	if err != nil {
		t.Fatal(err)
	}
	if at := k.Places[Ref{"t", 1, 2}]; len(k.Places) != 1 || len(at) != 2 || at[0].TopicID == at[1].TopicID {
		t.Fatalf("Known places: %+v, want offset 2 under two topic ids", k.Places)
	}
	wantIDs := map[IDAsk]WithID{ask(first[0]): {Same: true, Other: true}, other: {Other: true}, ask(row(8, "t")): {}}
	if !reflect.DeepEqual(k.IDs, wantIDs) {
		t.Fatalf("Known ids: %+v, want %+v", k.IDs, wantIDs)
	}
	// A row from before payload hashes were kept is handed back to be read.
	legacy := row(20, "t")
	legacy.PayloadSHA256 = nil
	legacy.Key = "old/key"
	if _, err := ix.Insert(ctx, []Row{legacy}, nil); err != nil {
		t.Fatal(err)
	}
	k, err = ix.Known(ctx, nil, []IDAsk{ask(row(20, "t"))})
	if w := k.IDs[ask(row(20, "t"))]; err != nil || w.Same || w.Other || w.Legacy == nil || w.Legacy.Key != "old/key" {
		t.Fatalf("Known of a legacy row: %+v, %v", w, err)
	}
	found, err := ix.Lookup(ctx, first[0].UUID)
	if err != nil || len(found) != 2 {
		t.Fatalf("Lookup of a reused id: %d rows, %v", len(found), err)
	}
}

// clean-duplicates claims a key only while no row points at it, and while
// the claim holds no insert points a row at it; the outbox entry goes in
// with the rows it announces, and is drained once.
func TestClaimsAndOutbox(t *testing.T) {
	ctx := context.Background()
	ix, pool := newIndex(t)
	indexed := row(0, "t")
	indexed.Key = "indexed"
	if _, err := ix.Insert(ctx, []Row{indexed}, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := ix.ClaimKey(ctx, "indexed"); err != nil || ok {
		t.Fatalf("claimed a key a row points at: %v %v", ok, err)
	}
	if ok, err := ix.ClaimKey(ctx, "orphan"); err != nil || !ok {
		t.Fatalf("claim an orphan: %v %v", ok, err)
	}
	late := row(1, "t")
	late.Key = "orphan"
	announce := func(rows []Row) ([]byte, error) { return []byte(fmt.Sprintf(`[{"rows": %d}]`, len(rows))), nil }
	_, err := ix.Insert(ctx, []Row{late}, announce)
	if ce := (*ClaimedError)(nil); !errors.As(err, &ce) || len(ce.Keys) != 1 || ce.Keys[0] != "orphan" {
		t.Fatalf("insert under a claim: %v", err)
	}
	if n, _ := ix.OutboxPending(ctx); n != 0 {
		t.Fatalf("a refused insert left %d outbox entries", n)
	}
	if err := ix.ReleaseKey(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	if got, err := ix.Insert(ctx, []Row{late, row(2, "t")}, announce); err != nil || len(got) != 2 {
		t.Fatalf("insert after the release: %v %v", got, err)
	}
	// Overlapping the index: the fallback announces only the new row.
	if got, err := ix.Insert(ctx, []Row{row(2, "t"), row(3, "t")}, announce); err != nil || len(got) != 1 {
		t.Fatalf("overlapping insert: %v %v", got, err)
	}
	var sent []string
	n, err := ix.DrainOutbox(ctx, 10, func(es []OutboxEntry) (int, error) {
		for _, e := range es {
			sent = append(sent, string(e.Events))
		}
		return len(es), nil
	})
	if err != nil || n != 2 || !reflect.DeepEqual(sent, []string{`[{"rows": 2}]`, `[{"rows": 1}]`}) {
		t.Fatalf("drained %d: %q, %v", n, sent, err)
	}
	if n, _ := ix.OutboxPending(ctx); n != 0 {
		t.Fatalf("%d outbox entries left after draining", n)
	}
	// A claim older than a claim holds is one a dead clean-duplicates
	// left: not honoured, and dropped.
	if _, err := pool.Exec(ctx, `INSERT INTO archive_key_claims (key, claimed_at) VALUES ('stale', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	stale := row(4, "t")
	stale.Key = "stale"
	if _, err := ix.Insert(ctx, []Row{stale}, nil); err != nil {
		t.Fatalf("insert under a stale claim: %v", err)
	}
	if n, err := ix.DropStaleClaims(ctx); err != nil || n != 1 {
		t.Fatalf("dropped %d stale claims, %v", n, err)
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
		r := Row{Topic: "tøpic.x", TopicID: store.UUID{byte(i), 0xee}, Partition: int32(i * 1000), Offset: int64(i) << 40, Time: times[i], Bucket: "bücket",
			Key: fmt.Sprintf("k/%d.bson", i), ByteOffset: int64(i) * 1 << 33, ByteLength: int64(i) + 5, Size: i * 70000, SHA256: []byte(fmt.Sprintf("%032d", i)),
			PayloadSHA256: []byte(fmt.Sprintf("p%031d", i)), Headers: headers[i]}
		if i == 2 {
			r.PayloadSHA256 = nil // a row from before payload hashes were kept
		}
		copy(r.UUID[:], fmt.Sprintf("copy-%011d", i))
		copied = append(copied, r)
		r.Topic, r.Key = "via-insert", r.Key+"-i"
		copy(r.UUID[:], fmt.Sprintf("insr-%011d", i))
		inserted = append(inserted, r)
	}
	if got, err := ix.Insert(ctx, copied, nil); err != nil || len(got) != len(copied) {
		t.Fatalf("COPY: %d new, %v", len(got), err)
	}
	if got, err := ix.insert(ctx, inserted, nil, false); err != nil || len(got) != len(inserted) {
		t.Fatalf("INSERT: %d new, %v", len(got), err)
	}
	for i, want := range copied {
		found, err := ix.Lookup(ctx, want.UUID)
		if err != nil {
			t.Fatal(err)
		}
		got := found[0]
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
	if _, err := ix.Insert(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}
	refs := []Ref{{"t", 1, 1}, {"t", 1, 3}, {"t", 1, 4}, {"t", 1, 97}, {"t", 1, 98}, {"t", 1, 5000}, {"t", 2, 4}, {"u", 1, 1}, {"u", 1, 2}}
	k, err := ix.Known(ctx, refs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Ref]bool{}
	for r, at := range k.Places {
		got[r] = len(at) == 1 && at[0].TopicID == (store.UUID{0xaa}) && bytes.Equal(at[0].SHA256, []byte{1, 2, 3})
	}
	want := map[Ref]bool{{"t", 1, 4}: true, {"t", 1, 98}: true, {"u", 1, 1}: true}
	if !reflect.DeepEqual(got, want) || len(k.IDs) != 0 {
		t.Fatalf("Known = %v %v, want %v", got, k.IDs, want)
	}
	spans := offsetSpans([]Ref{{"t", 1, 200}, {"t", 1, 1}, {"t", 1, 60}, {"t", 1, 65}, {"t", 2, 3}, {"s", 1, 7}})
	wantSpans := []span{{"s", 1, 7, 7}, {"t", 1, 1, 65}, {"t", 1, 200, 200}, {"t", 2, 3, 3}}
	if !reflect.DeepEqual(spans, wantSpans) {
		t.Fatalf("offsetSpans = %v, want %v", spans, wantSpans)
	}
}
