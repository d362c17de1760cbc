package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
)

// lockName is the advisory lock on TARGET that keeps a second processor
// on the same database waiting while one works.
const lockName = "registry-processor"

// errLockLost stops the work of a processor whose lock connection died:
// another processor may hold the lock by now.
var errLockLost = errors.New("lost the registry-processor lock on TARGET (its connection failed): stopped, another processor may be working")

// lock is the processor's advisory lock, held on a connection of its own
// (not one of the pool's, which the pool may close or hand to someone
// else), and watched: when that connection stops answering, the work
// under the lock is cancelled.
type lock struct {
	dsn   string
	log   *zap.Logger
	beat  func()
	every time.Duration // how often the connection is checked
	state atomic.Value  // "idle", "waiting" or "holding", for /status
}

func newLock(dsn string, log *zap.Logger, beat func()) *lock {
	l := &lock{dsn: dsn, log: log, beat: beat, every: 5 * time.Second}
	l.state.Store("idle")
	return l
}

// State is idle, waiting or holding.
func (l *lock) State() string { return l.state.Load().(string) }

// run runs fn holding the lock. A second processor on the same database
// waits here, alive (it beats), until the first is done, or stops
// waiting when asked to stop.
func (l *lock) run(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.Connect(cctx, l.dsn)
	cancel()
	if err != nil {
		return fmt.Errorf("TARGET: connect for the processor lock: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = conn.Close(cctx) // closing the session releases the lock
		l.state.Store("idle")
	}()
	key := pg.LockKey(lockName)
	logged := false
	for {
		var ok bool
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
		cancel()
		if err != nil {
			return fmt.Errorf("TARGET: take the processor lock: %w", err)
		}
		if ok {
			break
		}
		l.state.Store("waiting")
		if !logged {
			l.log.Info("another registry-processor holds the lock on TARGET: waiting")
			logged = true
		}
		l.beat()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		if runner.Stopping(ctx) {
			return nil
		}
	}
	l.state.Store("holding")
	work, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			select {
			case <-work.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(work, min(l.every, 10*time.Second))
			err := conn.Ping(pctx)
			cancel()
			if err != nil && work.Err() == nil {
				l.log.Error("the processor lock's connection failed: stopping the work under it", zap.Error(err))
				stop(errLockLost)
				return
			}
		}
	}()
	err = fn(work)
	stop(nil)
	<-watched
	if cause := context.Cause(work); errors.Is(cause, errLockLost) {
		return errors.Join(cause, err)
	}
	return err
}
