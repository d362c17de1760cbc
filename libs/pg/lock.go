package pg

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LockKey turns a lock name into the 64-bit key PostgreSQL advisory locks
// take. FNV-1a is stable across processes and versions, unlike hashtext.
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// AdvisoryLock blocks until it holds the session-level advisory lock name
// on conn. The lock lives as long as the connection: keep conn acquired
// until unlock is called. If the process dies, the server drops the
// connection and the lock with it, so a kill -9 never leaves it held.
//
// The wait is bounded by ctx, not by the pool's statement timeout: a
// standby replica waiting for the one at work is normal, however long the
// work takes, and the holder's death frees the lock (keepalives notice a
// vanished holder). The statement timeout is lifted for this one statement
// only (SET LOCAL inside a transaction that ends with it).
func AdvisoryLock(ctx context.Context, conn *pgxpool.Conn, name string) (unlock func(), err error) {
	key := LockKey(name)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("advisory lock %q: begin: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return nil, fmt.Errorf("advisory lock %q: lift statement timeout: %w", name, err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, fmt.Errorf("advisory lock %q: %w", name, err)
	}
	// A session-level lock outlives the transaction it was taken in.
	if err := tx.Commit(ctx); err != nil {
		// The lock may be held: the session's end is the one sure release.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("advisory lock %q: commit: %w", name, err)
	}
	return unlocker(conn, key), nil
}

// TryAdvisoryLock takes the lock if it is free and reports whether it did.
func TryAdvisoryLock(ctx context.Context, conn *pgxpool.Conn, name string) (ok bool, unlock func(), err error) {
	key := LockKey(name)
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		return false, nil, fmt.Errorf("advisory lock %q: %w", name, err)
	}
	if !ok {
		return false, func() {}, nil
	}
	return true, unlocker(conn, key), nil
}

func unlocker(conn *pgxpool.Conn, key int64) func() {
	return func() {
		// A fresh context: unlocking must happen even when the caller's
		// context is already cancelled. If it fails, the connection is
		// poisoned for reuse, so destroy it and the lock goes with it.
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key); err != nil {
			_ = conn.Conn().Close(context.Background())
		}
	}
}
