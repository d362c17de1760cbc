package index

import (
	"context"
	"fmt"
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
