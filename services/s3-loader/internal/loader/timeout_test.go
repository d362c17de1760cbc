package loader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// timedPool is a pool on the test's database whose statements time out
// after ms milliseconds.
func (e *env) timedPool(ms int) *pgxpool.Pool {
	e.t.Helper()
	pool, err := pg.Connect(e.ctx, e.dsn, pg.WithStatementTimeout(time.Duration(ms)*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(pool.Close)
	var got string
	if err := pool.QueryRow(e.ctx, `SHOW statement_timeout`).Scan(&got); err != nil || got != fmt.Sprintf("%dms", ms) && got != fmt.Sprintf("%ds", ms/1000) {
		e.t.Fatalf("statement_timeout on the timed pool = %q, %v", got, err)
	}
	return pool
}

// TestStatementTimeoutRollsBackAndRetries: another session holds a lock
// on the table a delivery goes into, and the loader's statements time out
// after a second. The delivery fails as a timeout naming its file, counted
// under errors_total{kind="timeout"}, with nothing of it committed, while
// another table's delivery goes on. Once the lock is released, the next
// pass applies it exactly once.
func TestStatementTimeoutRollsBackAndRetries(t *testing.T) {
	e := newEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", "10,ann,a@example.com")
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1", "2,b,2.00,,2")
	l := e.loaderOn(e.timedPool(1000), true)

	holder, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.WithoutCancel(e.ctx))
	if _, err := holder.Exec(e.ctx, `LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	res, err := l.Pass(e.ctx)
	if err == nil || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "dms/dbo/orders/LOAD00000001.csv") {
		t.Fatalf("pass with orders locked = %+v, %v; want a timeout naming the orders delivery", res, err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("error %v does not carry the statement timeout (57014)", err)
	}
	if res.Applied != 1 {
		t.Fatalf("pass applied %d, want the customers delivery (its table is not locked)", res.Applied)
	}
	if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("timeout")); got != 1 {
		t.Fatalf("errors_total{timeout} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("target")); got != 0 {
		t.Fatalf("errors_total{target} = %v, want 0: a timeout is counted as one", got)
	}
	// loader_deliveries and the outbox can be read past the lock; orders
	// itself only once it is released.
	if got := e.query(`SELECT string_agg(key, ',' ORDER BY id) FROM loader_deliveries`); got != "dms/dbo/customers/LOAD00000001.csv" {
		t.Fatalf("deliveries recorded = %s; nothing of the timed-out one may be", got)
	}
	if got := e.query(`SELECT count(*)::text FROM loader_outbox`); got != "1" {
		t.Fatalf("outbox has %s rows, want only the customers one", got)
	}
	if err := holder.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.query(`SELECT count(*)::text FROM orders`); got != "0" {
		t.Fatalf("orders has %s rows after the timed-out delivery, want 0", got)
	}

	res, err = l.Pass(e.ctx)
	if err != nil || res.Applied != 1 {
		t.Fatalf("pass after the lock went = %+v, %v; want the orders delivery applied", res, err)
	}
	if got := e.query(`SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders`); got != "1,2" {
		t.Fatalf("orders = %s, want 1,2", got)
	}
	if got := e.query(`SELECT count(*)::text FROM loader_deliveries WHERE key = 'dms/dbo/orders/LOAD00000001.csv'`); got != "1" {
		t.Fatalf("the orders delivery is recorded %s times, want once", got)
	}
	if n := len(e.msgs.wait(2)); n != 2 {
		t.Fatalf("%d notifications, want 2 (one per delivery, once each)", n)
	}
	if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("timeout")); got != 1 {
		t.Fatalf("errors_total{timeout} = %v after the retry, want still 1", got)
	}
}

// TestWaitingForTheLockIsNotATimeout: a replica waiting for the loader
// lock behind another one is waiting its turn, not hung; the pool's
// statement timeout must not fail its pass.
func TestWaitingForTheLockIsNotATimeout(t *testing.T) {
	e := newEnv(t)
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	l := e.loaderOn(e.timedPool(500), true)

	// The other replica: holds the lock this loader's source takes.
	conn, err := e.pool.Acquire(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	unlock, err := pg.AdvisoryLock(e.ctx, conn, "s3-loader "+e.bucket.Name+"/"+e.bucket.Path)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := l.Pass(e.ctx)
		done <- result{res, err}
	}()
	// Several statement timeouts' worth of waiting: the pass must still
	// be waiting, not failed.
	select {
	case r := <-done:
		unlock()
		t.Fatalf("pass ended while the other replica held the lock: %+v, %v", r.res, r.err)
	case <-time.After(3 * time.Second):
	}
	unlock()
	select {
	case r := <-done:
		if r.err != nil || r.res.Applied != 1 {
			t.Fatalf("pass after the lock was released = %+v, %v; want the delivery applied", r.res, r.err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("pass still waiting two minutes after the lock was released")
	}
	if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("timeout")); got != 0 {
		t.Fatalf("errors_total{timeout} = %v, want 0", got)
	}
	if n := len(e.msgs.wait(1)); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
}

// TestIsTimeout: what counts as a deadline running out.
func TestIsTimeout(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"statement timeout", fmt.Errorf("k: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}), true},
		{"lock timeout", fmt.Errorf("k: %w", &pgconn.PgError{Code: "55P03"}), true},
		{"context deadline", fmt.Errorf("k: open: %w", context.DeadlineExceeded), true},
		{"shutdown", fmt.Errorf("k: %w", context.Canceled), false},
		{"bad value", &pgconn.PgError{Code: "22P02"}, false},
		{"other", errors.New("connection refused"), false},
		{"nil", nil, false},
	} {
		if got := IsTimeout(c.err); got != c.want {
			t.Errorf("%s: IsTimeout(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestStoreGoneMidFileIsRetriedNotSkipped: the object store dies while a
// plain full-load file streams into COPY. The read ends early (an HTTP
// body cut short reads as io.ErrUnexpectedEOF, the error a truncated gzip
// gives), and COPY reports the failed read as 57014, the code of a
// statement timeout. It is neither bad input (with ON_BAD_FILE=skip it
// would be recorded as skipped and its rows never loaded) nor a timeout:
// a retryable read failure, nothing recorded, and the file applied whole
// once the store is back.
func TestStoreGoneMidFileIsRetriedNotSkipped(t *testing.T) {
	e := newEnv(t)
	srv := testkit.RunS3(t)
	b, err := srv.CreateBucket(e.ctx, "cut-off")
	if err != nil {
		t.Fatal(err)
	}
	b.Path = "dms"
	e.bucket = b
	if e.store, err = blob.Open(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	e.cfg.SkipBadFiles = true
	e.cfg.ProgressEvery = 1000
	// Far more than socket buffers hold, so most of it is still on the
	// server when it goes.
	const rows = 500_000
	lines := make([]string, rows)
	for i := range lines {
		lines[i] = fmt.Sprintf("%d,customer-%d,%d.00,,%d", i+1, i%977, i%1000, i+1)
	}
	e.put("dbo/orders/LOAD00000001.csv", lines...)

	var once sync.Once
	// At the first progress line the loader is mid-file: stop the store
	// there, from the loader's own goroutine, so it reads on only from
	// what was already in flight.
	e.log = zaptest.NewLogger(t, zaptest.WrapOptions(zap.Hooks(func(en zapcore.Entry) error {
		if strings.Contains(en.Message, "processed 1") && strings.Contains(en.Message, "rows (") {
			once.Do(srv.Stop)
		}
		return nil
	})))
	res, err := e.pass()
	if err == nil || errors.Is(err, target.ErrBadInput) || res.Skipped != 0 {
		t.Fatalf("pass with the store gone mid-file = %+v, %v; want a retryable failure, not bad input", res, err)
	}
	if !errors.Is(err, source.ErrCutOff) {
		t.Fatalf("error %v does not say the read was cut off", err)
	}
	if got := e.query(`SELECT (SELECT count(*) FROM orders)::text, (SELECT count(*) FROM loader_deliveries)::text`); got != "0|0" {
		t.Fatalf("after the cut-off (orders|deliveries) = %s, want nothing recorded", got)
	}
	if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("bad_input")) + testutil.ToFloat64(e.m.Errors.WithLabelValues("timeout")); got != 0 {
		t.Fatalf("errors_total{bad_input} + {timeout} = %v, want 0: the read was cut off", got)
	}

	if err := srv.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	res, err = e.pass()
	if err != nil || res.Applied != 1 {
		t.Fatalf("pass with the store back = %+v, %v", res, err)
	}
	if got := e.query(`SELECT count(*)::text || '|' || sum(order_id)::text FROM orders`); got != fmt.Sprintf("%d|%d", rows, rows*(rows+1)/2) {
		t.Fatalf("orders (count|sum) = %s, want every row once", got)
	}
	if got := e.query(`SELECT status FROM loader_deliveries`); got != "loaded" {
		t.Fatalf("delivery recorded as %q", got)
	}
}
