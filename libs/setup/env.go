package setup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/runner"
)

// Env is what a service's run function gets: the logger, the metrics
// server, and constructors for the dependencies every service shares.
// Each constructor registers the dependency as a /readyz check and its
// close for the end of Main, in reverse order of opening.
type Env struct {
	Log     *zap.Logger
	Metrics *metrics.Server

	name   string
	cfg    any
	common config.Common

	mu      sync.Mutex
	closers []closer
}

type closer struct {
	name string
	fn   func()
}

func newEnv(name string, cfg any, common config.Common, log *zap.Logger) *Env {
	srv := metrics.New(name)
	srv.SetStallWindow(time.Duration(common.HealthWindow) * time.Second)
	return &Env{Log: log, Metrics: srv, name: name, cfg: cfg, common: common}
}

// Runner is the runner's configuration from RUN_AS_SERVICE, MIN_SLEEP,
// MAX_SLEEP and SHUTDOWN_GRACE, with its heartbeat wired to /healthz.
func (e *Env) Runner() runner.Config {
	rc := runner.FromCommon(e.common)
	rc.Beat = e.Metrics.Beat
	return rc
}

// Beat tells /healthz the main loop is alive; hand it to the domain's
// Config so a long unit of work beats as it goes.
func (e *Env) Beat() { e.Metrics.Beat() }

// AddCheck adds a readiness check under name (what /readyz prints when it
// fails).
func (e *Env) AddCheck(name string, check func(context.Context) error) {
	e.Metrics.AddCheck(name, check)
}

// OnClose runs fn when Main ends, before what was opened earlier closes.
func (e *Env) OnClose(name string, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closers = append(e.closers, closer{name, fn})
}

func (e *Env) close() {
	e.mu.Lock()
	cs := e.closers
	e.closers = nil
	e.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		e.Log.Debug("closing", zap.String("dependency", cs[i].name))
		cs[i].fn()
	}
}

// Postgres opens a pool on dsn with SQL_TIMEOUT as every statement's
// deadline and, when migrations is not nil, applies them for service
// under the migration lock. A utility that only reads passes nil: it must
// not change the schema of a database a newer or older replica runs on.
// The config must embed setup.SQL.
func (e *Env) Postgres(ctx context.Context, dsn string, migrations fs.FS, service string) (*pgxpool.Pool, error) {
	s, ok := e.cfg.(hasSQL)
	if !ok {
		return nil, errors.New("setup: Postgres needs setup.SQL embedded in the config (SQL_TIMEOUT)")
	}
	pool, err := pg.Connect(ctx, dsn, pg.WithStatementTimeout(s.sqlTimeout()))
	if err != nil {
		return nil, err
	}
	if migrations != nil {
		if err := pg.Migrate(ctx, pool, service, migrations); err != nil {
			pool.Close()
			return nil, err
		}
	}
	e.AddCheck("postgres", pool.Ping)
	e.OnClose("postgres", pool.Close)
	return pool, nil
}

// Store opens the bucket with STORE_TIMEOUT as every request's deadline.
// Its readiness check lists one object under the bucket's path. The
// config must embed setup.Store.
func (e *Env) Store(ctx context.Context, b config.Bucket, opts ...blob.Option) (blob.Store, error) {
	s, ok := e.cfg.(hasStore)
	if !ok {
		return nil, errors.New("setup: Store needs setup.Store embedded in the config (STORE_TIMEOUT)")
	}
	// STORE_TIMEOUT first: a service's own options (requester-pays, a
	// credentials file) come after it.
	st, err := blob.Open(ctx, b, append([]blob.Option{blob.WithTimeout(s.storeTimeout())}, opts...)...)
	if err != nil {
		return nil, err
	}
	e.AddCheck("bucket "+b.Name, func(ctx context.Context) error { return ProbeStore(ctx, st, b.Path) })
	return st, nil
}

// ProbeStore lists at most one object under path: the cheapest request
// that proves the bucket answers and the credentials may list it.
func ProbeStore(ctx context.Context, st blob.Store, path string) error {
	prefix := path
	if prefix != "" {
		prefix += "/"
	}
	errStop := errors.New("stop")
	err := st.List(ctx, prefix, "", func(blob.Object) error { return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("list %q in bucket %s: %w", prefix, st.Bucket(), err)
	}
	return nil
}

// NATS connects to url (honouring ctx) with the service's name as the
// client name; closing drains what was published.
func (e *Env) NATS(ctx context.Context, url string) (*natsbus.Bus, error) {
	bus, err := natsbus.Connect(ctx, url, e.name, e.Log)
	if err != nil {
		return nil, err
	}
	e.AddCheck("nats", bus.Check)
	e.OnClose("nats", bus.Close)
	return bus, nil
}
