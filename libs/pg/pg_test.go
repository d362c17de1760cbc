package pg

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"tributary.dev/libs/testkit"
)

// migrations are deliberately not idempotent: applying one twice fails
// (CREATE TABLE) or shows up in the data (the INSERT), and the sleep makes
// two runs overlap.
var migrations = fstest.MapFS{
	"0001_counter.sql": {Data: []byte(`CREATE TABLE applied (n int); SELECT pg_sleep(0.5); INSERT INTO applied VALUES (1);`)},
	"0002_more.sql":    {Data: []byte(`INSERT INTO applied VALUES (2);`)},
}

// TestMigrateChild is the body of one migrating process, started by
// TestMigrateConcurrentProcesses; on its own it does nothing.
func TestMigrateChild(t *testing.T) {
	dsn := os.Getenv("PG_MIGRATE_CHILD_DSN")
	if dsn == "" {
		return
	}
	ctx := context.Background()
	pool, err := Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool, "svc", migrations); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateConcurrentProcesses(t *testing.T) {
	dsn := testkit.Postgres(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateChild$", "-test.v")
			cmd.Env = append(os.Environ(), "PG_MIGRATE_CHILD_DSN="+dsn)
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || !strings.Contains(outs[i], "--- PASS: TestMigrateChild") {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	ctx := context.Background()
	pool, err := Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var got []int32
	rows, _ := pool.Query(ctx, "SELECT n FROM applied ORDER BY n")
	for rows.Next() {
		var n int32
		_ = rows.Scan(&n)
		got = append(got, n)
	}
	if rows.Err() != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("applied = %v (%v), want [1 2]: each migration exactly once", got, rows.Err())
	}
	var recorded int
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM tributary_migrations WHERE service='svc'").Scan(&recorded)
	if recorded != 2 {
		t.Fatalf("tributary_migrations has %d rows for svc, want 2", recorded)
	}
	// A third run, as after a restart, changes nothing.
	if err := Migrate(ctx, pool, "svc", migrations); err != nil {
		t.Fatal(err)
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bad := fstest.MapFS{"0001_bad.sql": {Data: []byte(`CREATE TABLE half (n int); SELECT no_such_function();`)}}
	err = Migrate(ctx, pool, "bad", bad)
	if err == nil || !strings.Contains(err.Error(), "0001_bad.sql") {
		t.Fatalf("err = %v, want it to name the file", err)
	}
	var exists bool
	_ = pool.QueryRow(ctx, "SELECT to_regclass('half') IS NOT NULL").Scan(&exists)
	if exists {
		t.Fatal("a failed migration left its table behind")
	}
}

func TestAdvisoryLockExcludes(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c1, _ := pool.Acquire(ctx)
	defer c1.Release()
	c2, _ := pool.Acquire(ctx)
	defer c2.Release()
	unlock, err := AdvisoryLock(ctx, c1, "s3-loader target orders")
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := TryAdvisoryLock(ctx, c2, "s3-loader target orders")
	if err != nil || ok {
		t.Fatalf("second holder got the lock (ok=%v err=%v)", ok, err)
	}
	unlock()
	ok, unlock2, err := TryAdvisoryLock(ctx, c2, "s3-loader target orders")
	if err != nil || !ok {
		t.Fatalf("lock not free after unlock (ok=%v err=%v)", ok, err)
	}
	unlock2()
}

func TestCopyFromAndQuoting(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	table := QualifiedName("public", `we"ird table`)
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, "+QuoteIdent("Name")+" text)"); err != nil {
		t.Fatal(err)
	}
	conn, _ := pool.Acquire(ctx)
	defer conn.Release()
	pr, pw := io.Pipe()
	go func() {
		for _, l := range []string{"1,alpha\n", "2,\"b,c\"\n", "3,\n"} {
			_, _ = pw.Write([]byte(l))
		}
		pw.Close()
	}()
	n, err := CopyFrom(ctx, conn.Conn().PgConn(), table, []string{"id", "Name"}, "FORMAT csv", pr)
	if err != nil || n != 3 {
		t.Fatalf("CopyFrom = %d, %v", n, err)
	}
	var got string
	_ = pool.QueryRow(ctx, "SELECT string_agg(id || '=' || coalesce("+QuoteIdent("Name")+", 'NULL'), ';' ORDER BY id) FROM "+table).Scan(&got)
	if got != "1=alpha;2=b,c;3=NULL" {
		t.Fatalf("table holds %q", got)
	}
}

func TestCheckIdent(t *testing.T) {
	for _, ok := range []string{"orders", "_x1", "Entity_1"} {
		if err := CheckIdent(ok); err != nil {
			t.Errorf("CheckIdent(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1abc", "a-b", "a;drop table x", `a"b`, "ordérs", strings.Repeat("a", 64), "a.b"} {
		if err := CheckIdent(bad); err == nil {
			t.Errorf("CheckIdent(%q) accepted", bad)
		}
	}
	if got := QualifiedName("s", `t"x`); got != `"s"."t""x"` {
		t.Fatalf("QualifiedName = %s", got)
	}
}
