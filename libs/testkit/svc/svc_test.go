package svc

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats.go"
)

// TestNewSetsUpEverything uses each dependency New returns for what a
// service does with it: an object written and read back below the bucket
// path, the migrations applied and recorded, a message through NATS.
func TestNewSetsUpEverything(t *testing.T) {
	migrations := fstest.MapFS{
		"0001_a.sql": {Data: []byte(`CREATE TABLE things (id int PRIMARY KEY)`)},
		"0002_b.sql": {Data: []byte(`INSERT INTO things VALUES (7)`)},
	}
	e := New(t, Options{S3: true, BucketPath: "root", Postgres: true, Migrations: migrations, Service: "svc-test", NATS: true})
	ctx := context.Background()

	key := e.Bucket.Join("a/b.txt")
	if key != "root/a/b.txt" {
		t.Fatalf("Bucket.Join = %q, want the path below BucketPath", key)
	}
	if err := e.Store.Put(ctx, key, bytes.NewReader([]byte("hello")), 5); err != nil {
		t.Fatal(err)
	}
	rc, err := e.Store.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Fatalf("read back %q", got)
	}

	var ids, applied string
	if err := e.Pool.QueryRow(ctx, `SELECT string_agg(id::text, ','), (SELECT string_agg(name, ',' ORDER BY name) FROM tributary_migrations WHERE service = 'svc-test') FROM things`).Scan(&ids, &applied); err != nil {
		t.Fatal(err)
	}
	if ids != "7" || applied != "0001_a.sql,0002_b.sql" {
		t.Fatalf("things = %q, migrations recorded = %q; want both files applied in order", ids, applied)
	}
	if e.DSN == "" {
		t.Fatal("no DSN")
	}

	nc, err := nats.Connect(e.NATS, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("svc.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("svc.test", []byte("ping")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil || string(m.Data) != "ping" {
		t.Fatalf("NATS message = %v, %v", m, err)
	}
}

// TestNewOnlyWhatIsAsked: dependencies not asked for are not started.
func TestNewOnlyWhatIsAsked(t *testing.T) {
	e := New(t, Options{NATS: true})
	if e.Store != nil || e.Pool != nil || e.DSN != "" || e.Bucket.Name != "" {
		t.Fatalf("asked for NATS only, got %+v", e)
	}
	if e.NATS == "" {
		t.Fatal("no NATS URL")
	}
}
