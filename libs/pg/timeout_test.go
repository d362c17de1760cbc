package pg

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/testkit"
)

func connect(t *testing.T, dsn string, opts ...Option) *pgxpool.Pool {
	t.Helper()
	pool, err := Connect(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestSettingsReachTheServer: what Connect sets is what the server's
// sessions run with, by default and with options.
func TestSettingsReachTheServer(t *testing.T) {
	dsn := testkit.Postgres(t)
	cases := []struct {
		name           string
		opts           []Option
		stmt, idleInTx string
		connectTimeout time.Duration
	}{
		{"defaults", nil, "5min", "10min", 15 * time.Second},
		{"options", []Option{WithStatementTimeout(1500 * time.Millisecond), WithConnectTimeout(3 * time.Second)}, "1500ms", "3s", 3 * time.Second},
		{"statement timeout off", []Option{WithStatementTimeout(0)}, "0", "0", 15 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := connect(t, dsn, c.opts...)
			ctx := context.Background()
			var stmt, idle string
			if err := pool.QueryRow(ctx, "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')").Scan(&stmt, &idle); err != nil {
				t.Fatal(err)
			}
			if stmt != c.stmt || idle != c.idleInTx {
				t.Fatalf("statement_timeout=%q idle_in_transaction_session_timeout=%q, want %q and %q", stmt, idle, c.stmt, c.idleInTx)
			}
			if got := pool.Config().ConnConfig.ConnectTimeout; got != c.connectTimeout {
				t.Fatalf("ConnectTimeout = %s, want %s", got, c.connectTimeout)
			}
		})
	}
}

// TestStatementTimeoutEndsHungStatements: a statement that cannot finish
// fails with the server's canceling-statement error (57014) instead of
// stalling the caller: a long query, and a wait for a row lock held by a
// session that does not let go.
func TestStatementTimeoutEndsHungStatements(t *testing.T) {
	dsn := testkit.Postgres(t)
	ctx := context.Background()
	// The lock holder runs without timeouts, so only the waiter's timeout
	// can end the wait.
	holder := connect(t, dsn, WithStatementTimeout(0))
	if _, err := holder.Exec(ctx, "CREATE TABLE accounts (id int PRIMARY KEY, n int); INSERT INTO accounts VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE accounts SET n = n + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}

	pool := connect(t, dsn, WithStatementTimeout(time.Second))
	cases := []struct{ name, sql string }{
		{"long query", "SELECT pg_sleep(5)"},
		{"row lock wait", "UPDATE accounts SET n = n + 10 WHERE id = 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The client's own context is far longer: the server's
			// timeout must be what ends the statement.
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, err := pool.Exec(cctx, c.sql)
			if got := sqlState(err); got != "57014" {
				t.Fatalf("%s: err = %v (SQLSTATE %q), want 57014 canceling statement due to statement timeout", c.sql, err, got)
			}
			if !strings.Contains(err.Error(), "statement timeout") {
				t.Fatalf("error does not say why: %v", err)
			}
		})
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := holder.QueryRow(ctx, "SELECT n FROM accounts WHERE id = 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("n = %d (%v), want 1: only the holder's update committed", n, err)
	}
}

// TestIdleTransactionReleasesLocks: a client that stops talking inside a
// transaction (hung, or dead behind a silent network) loses its session,
// so the locks it held are freed instead of blocking everyone forever.
func TestIdleTransactionReleasesLocks(t *testing.T) {
	dsn := testkit.Postgres(t)
	ctx := context.Background()
	waiter := connect(t, dsn, WithStatementTimeout(0))
	if _, err := waiter.Exec(ctx, "CREATE TABLE jobs (id int PRIMARY KEY, owner text); INSERT INTO jobs VALUES (1, '')"); err != nil {
		t.Fatal(err)
	}
	stuck := connect(t, dsn, WithStatementTimeout(500*time.Millisecond))
	tx, err := stuck.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE jobs SET owner = 'stuck' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	// stuck now says nothing more. The waiter asks for the same row with
	// a generous deadline and gets it once the server ends stuck's session.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := waiter.Exec(wctx, "UPDATE jobs SET owner = 'waiter' WHERE id = 1"); err != nil {
		t.Fatalf("waiter never got the row stuck held: %v", err)
	}
	_, err = tx.Exec(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("the stuck transaction still works after the server should have ended it")
	}
	_ = tx.Rollback(ctx)
	var owner string
	if err := waiter.QueryRow(ctx, "SELECT owner FROM jobs WHERE id = 1").Scan(&owner); err != nil || owner != "waiter" {
		t.Fatalf("owner = %q (%v), want waiter: stuck's update must have been rolled back", owner, err)
	}
}

// TestAdvisoryLockWaitOutlivesStatementTimeout: a standby replica waits for
// the lock as long as the active one works; the statement timeout must
// not turn that normal wait into an error.
func TestAdvisoryLockWaitOutlivesStatementTimeout(t *testing.T) {
	dsn := testkit.Postgres(t)
	ctx := context.Background()
	pool := connect(t, dsn, WithStatementTimeout(time.Second))
	c1, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Release()
	unlock, err := AdvisoryLock(ctx, c1, "s3-loader orders")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Release()
	var pid int
	if err := c2.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		unlock2, err := AdvisoryLock(ctx, c2, "s3-loader orders")
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	// Wait, by the server's clock, until c2 has waited for the lock for
	// three statement timeouts.
	watch := connect(t, dsn)
	deadline := time.Now().Add(time.Minute)
	for {
		var waited bool
		err := watch.QueryRow(ctx, `SELECT coalesce(bool_or(now() - query_start > interval '3 s'), false)
			FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%'`, pid).Scan(&waited)
		if err != nil {
			t.Fatal(err)
		}
		if waited {
			break
		}
		select {
		case err := <-got:
			t.Fatalf("the waiting replica gave up while the lock was held: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter was never seen waiting for the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiter after the holder let go: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("waiter did not get the lock after the holder let go")
	}
	// The lift was for that statement only.
	var stmt string
	if err := c2.QueryRow(ctx, "SELECT current_setting('statement_timeout')").Scan(&stmt); err != nil || stmt != "1s" {
		t.Fatalf("statement_timeout after the lock = %q (%v), want 1s again", stmt, err)
	}
}

// TestConnectTimeout: a server that accepts TCP and never answers fails
// Connect with a timeout instead of hanging it.
func TestConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = Connect(ctx, "postgres://nobody@"+host+":"+port+"/none?sslmode=disable", WithConnectTimeout(500*time.Millisecond))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a silent server: err = %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "connect to "+host+":"+port) {
		t.Fatalf("error does not name the server: %v", err)
	}
}

// TestConnectionsHaveKeepalives: every pooled connection's socket has TCP
// keepalives with the idle time Connect sets, so a server that vanished
// is noticed in about a minute.
func TestConnectionsHaveKeepalives(t *testing.T) {
	pool := connect(t, testkit.Postgres(t))
	ctx := context.Background()
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	nc := c.Conn().PgConn().Conn()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		t.Fatalf("connection is a %T, not a socket", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on, idle int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		on, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		if serr == nil {
			idle, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		}
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if on == 0 || idle != int(keepAlive.Idle/time.Second) {
		t.Fatalf("SO_KEEPALIVE=%d TCP_KEEPIDLE=%ds, want on and %s", on, idle, keepAlive.Idle)
	}
}
