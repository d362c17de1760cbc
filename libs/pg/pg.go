// Package pg holds what every service does with PostgreSQL: open a pool,
// apply its embedded migrations once even when replicas start together,
// take advisory locks, stream COPY, and quote names that came from outside.
package pg

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults when Connect gets no option. Five minutes is far above any
// statement the services run in normal operation (a COPY of one delivery
// file, an index insert) and far below "forever".
const (
	DefaultStatementTimeout = 5 * time.Minute
	DefaultConnectTimeout   = 15 * time.Second
)

// idleInTxFactor is how many statement timeouts a session may sit idle
// inside an open transaction before the server ends it. Services do
// work between statements of one transaction (reading the next part of a
// file, building rows), but never for longer than a statement may run; a
// client that died or hung mid-transaction must not hold its locks
// forever.
const idleInTxFactor = 2

// Keepalive settings for every connection: a server (or a NAT, a load
// balancer) that vanished without a FIN is noticed in about a minute
// instead of the kernel's default of two hours.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

type options struct {
	statementTimeout time.Duration
	connectTimeout   time.Duration
}

// Option changes how Connect sets up the pool.
type Option func(*options)

// WithStatementTimeout sets PostgreSQL's statement_timeout for every
// connection of the pool, so a statement the server cannot finish (a lock
// wait behind a stuck session, a runaway plan) fails with SQLSTATE 57014
// instead of stalling a pass. idle_in_transaction_session_timeout is set
// to a multiple of it. Zero turns both off (the server's defaults apply).
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = d }
}

// WithConnectTimeout bounds how long opening one connection (TCP,
// TLS, authentication) may take.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// Connect opens a pool and pings it, so a wrong TARGET fails at start with
// the server's own reason rather than on the first query. Every
// connection has a statement timeout, a connect timeout and TCP
// keepalives (defaults above), so no call to the database waits forever.
func Connect(ctx context.Context, dsn string, opts ...Option) (*pgxpool.Pool, error) {
	o := options{statementTimeout: DefaultStatementTimeout, connectTimeout: DefaultConnectTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cc := cfg.ConnConfig
	if o.statementTimeout > 0 {
		// Sent in the startup packet: in force from the first statement,
		// and RESET returns to it.
		cc.RuntimeParams["statement_timeout"] = millis(o.statementTimeout)
		cc.RuntimeParams["idle_in_transaction_session_timeout"] = millis(idleInTxFactor * o.statementTimeout)
	}
	if o.connectTimeout > 0 {
		cc.ConnectTimeout = o.connectTimeout
	}
	dialer := &net.Dialer{KeepAliveConfig: keepAlive}
	cc.DialFunc = dialer.DialContext
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	wait := o.connectTimeout
	if wait <= 0 {
		wait = DefaultConnectTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cc.Host, cc.Port, cc.Database, err)
	}
	return pool, nil
}

// millis renders d for a PostgreSQL timeout setting; anything positive
// stays positive, since 0 would mean "no timeout".
func millis(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
