package setup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
	"tributary.dev/libs/testkit"
)

// full uses every dependency setup offers.
type full struct {
	config.Common
	setup.SQL
	setup.Store
	Target config.DSN       `envconfig:"TARGET" desc:"PostgreSQL"`
	Bucket config.Bucket    `envconfig:"BUCKET" desc:"the bucket"`
	NATS   config.SecretURL `envconfig:"NATS" desc:"NATS server"`
}

// plain uses none.
type plain struct {
	config.Common
	Name string `envconfig:"WIDGET_NAME" default:"w" desc:"a name"`
}

// run is setup.Run with its output captured and no metrics server port.
func run(t *testing.T, cfg any, fn func(context.Context, *setup.Env) error, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("METRICS_ADDR", "")
	var stdout, stderr bytes.Buffer
	code := setup.Run(context.Background(), "widget", "makes widgets", cfg, fn,
		setup.Args(args), setup.Output(&stdout, &stderr), setup.Logger(zap.NewNop()),
		setup.MoreHelp(func(w io.Writer) { fmt.Fprintln(w, "Verbs: frob") }))
	return code, stdout.String(), stderr.String()
}

func TestHelpListsTheConfigsVariablesOnly(t *testing.T) {
	called := false
	never := func(context.Context, *setup.Env) error { called = true; return nil }
	code, out, _ := run(t, &full{}, never, "--help")
	if code != 0 || called {
		t.Fatalf("--help: exit %d, run called %v", code, called)
	}
	for _, v := range append(setup.Variables(&full{}), "widget — makes widgets", "Verbs: frob") {
		if !strings.Contains(out, v) {
			t.Errorf("--help lacks %q:\n%s", v, out)
		}
	}
	_, out, _ = run(t, &plain{}, never, "-h")
	if !strings.Contains(out, "WIDGET_NAME") || strings.Contains(out, "SQL_TIMEOUT") || strings.Contains(out, "STORE_TIMEOUT") {
		t.Fatalf("a service without PostgreSQL or a bucket lists only its own variables:\n%s", out)
	}
}

func TestVariablesWalksEmbeddedStructs(t *testing.T) {
	got := setup.Variables(&full{})
	for _, v := range []string{"RUN_AS_SERVICE", "LOG_LEVEL", "METRICS_ADDR", "SQL_TIMEOUT", "STORE_TIMEOUT", "TARGET", "BUCKET", "NATS"} {
		if !slices.Contains(got, v) {
			t.Errorf("Variables lacks %s: %v", v, got)
		}
	}
	if slices.Contains(got, "SQL") || slices.Contains(got, "COMMON") {
		t.Errorf("Variables lists an embedded struct as a variable: %v", got)
	}
}

func TestBadVariableIsOneLineNamingIt(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"SQL_TIMEOUT", "soon"},
		{"SQL_TIMEOUT", "0"},
		{"STORE_TIMEOUT", "-5"},
		{"LOG_LEVEL", "loud"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			called := false
			code, _, stderr := run(t, &full{}, func(context.Context, *setup.Env) error { called = true; return nil })
			if code != 1 || called {
				t.Fatalf("exit %d, run called %v; stderr: %s", code, called, stderr)
			}
			if !strings.HasPrefix(stderr, "widget: ") || !strings.Contains(stderr, tc.name) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("want one line \"widget: …%s…\", got %q", tc.name, stderr)
			}
		})
	}
}

func TestRunErrorIsTheExitStatus(t *testing.T) {
	code, _, stderr := run(t, &plain{}, func(context.Context, *setup.Env) error { return errors.New("out of widgets") })
	if code != 1 || stderr != "widget: out of widgets\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := run(t, &plain{}, func(context.Context, *setup.Env) error { return nil }); code != 0 {
		t.Fatalf("exit %d after a run without error", code)
	}
}

// deps starts PostgreSQL (its own database, so the test may drop it),
// an S3 server with a bucket and NATS.
type deps struct {
	admin, db, dsn string
	s3             *testkit.S3Server
	bucket         config.Bucket
	nats           string
	stopNATS       func()
}

func startDeps(t *testing.T) *deps {
	t.Helper()
	d := &deps{db: fmt.Sprintf("setup_%d", time.Now().UnixNano())}
	var err error
	if d.admin, err = testkit.PostgresAdmin(); err != nil {
		t.Fatalf("PostgreSQL: %v (start it: pg_ctlcluster <version> main start, or set DATABASE_URL)", err)
	}
	if d.dsn, err = testkit.CreateDatabase(d.admin, d.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testkit.DropDatabase(d.admin, d.db) })
	d.s3 = testkit.RunS3(t)
	if d.bucket, err = d.s3.CreateBucket(context.Background(), "setup-test"); err != nil {
		t.Fatal(err)
	}
	d.bucket.Path = "in"
	ns := testkit.NATSServer(t)
	d.nats = ns.ClientURL()
	d.stopNATS = func() { ns.Shutdown(); ns.WaitForShutdown() }
	t.Setenv("TARGET", d.dsn)
	t.Setenv("BUCKET", d.bucket.Raw())
	t.Setenv("NATS", d.nats)
	return d
}

// openAll opens every dependency through env.
func openAll(ctx context.Context, env *setup.Env, cfg *full, migrations fstest.MapFS) (*pgxpool.Pool, error) {
	pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations, "widget")
	if err != nil {
		return nil, fmt.Errorf("TARGET: %w", err)
	}
	if _, err := env.Store(ctx, cfg.Bucket); err != nil {
		return nil, fmt.Errorf("BUCKET: %w", err)
	}
	if _, err := env.NATS(ctx, cfg.NATS.Value()); err != nil {
		return nil, err
	}
	return pool, nil
}

// waitFailing polls the readiness checks until name fails and the
// others pass; a dependency's client may take a moment to notice.
func waitFailing(t *testing.T, env *setup.Env, name string, others ...string) error {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		failed := env.Metrics.Ready(context.Background())
		if _, ok := failed[name]; ok {
			for _, o := range others {
				if err, ok := failed[o]; ok {
					return fmt.Errorf("%s fails too, though it is up: %v", o, err)
				}
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never failed its readiness check; checks say %v", name, failed)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadinessChecksEveryDependencyByName(t *testing.T) {
	d := startDeps(t)
	var cfg full
	bucketCheck := "bucket " + d.bucket.Name
	code, _, stderr := run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		if _, err := openAll(ctx, env, &cfg, nil); err != nil {
			return err
		}
		if failed := env.Metrics.Ready(ctx); len(failed) != 0 {
			return fmt.Errorf("not ready with everything up: %v", failed)
		}
		d.s3.Stop()
		if err := waitFailing(t, env, bucketCheck, "postgres", "nats"); err != nil {
			return err
		}
		if err := d.s3.Restart(ctx); err != nil {
			return err
		}
		d.stopNATS()
		if err := waitFailing(t, env, "nats", "postgres", bucketCheck); err != nil {
			return err
		}
		if err := testkit.DropDatabase(d.admin, d.db); err != nil {
			return err
		}
		return waitFailing(t, env, "postgres", bucketCheck)
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestMigrationsOnlyWhenAsked(t *testing.T) {
	d := startDeps(t)
	schema := fstest.MapFS{"0001_widgets.sql": {Data: []byte(`CREATE TABLE widgets (id int PRIMARY KEY)`)}}
	tables := func() string {
		pool, err := pgxpool.New(context.Background(), d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var s string
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var cfg full
	code, _, stderr := run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		_, err := openAll(ctx, env, &cfg, nil)
		return err
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := tables(); got != "" {
		t.Fatalf("a run without migrations created tables: %s", got)
	}
	code, _, stderr = run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		_, err := openAll(ctx, env, &cfg, schema)
		return err
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := tables(); got != "tributary_migrations,widgets" {
		t.Fatalf("after a run with migrations the tables are %q", got)
	}
}

func TestClosesInReverseOrder(t *testing.T) {
	startDeps(t)
	var cfg full
	var order []string
	var pool *pgxpool.Pool
	code, _, stderr := run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		env.OnClose("first", func() {
			// Opened before the pool, closed after it.
			if pool.Ping(context.Background()) == nil {
				order = append(order, "first (pool still open)")
			} else {
				order = append(order, "first")
			}
		})
		var err error
		if pool, err = openAll(ctx, env, &cfg, nil); err != nil {
			return err
		}
		env.OnClose("last", func() {
			if pool.Ping(context.Background()) != nil {
				order = append(order, "last (pool already closed)")
			} else {
				order = append(order, "last")
			}
		})
		return errors.New("done")
	})
	if code != 1 || stderr != "widget: done\n" {
		t.Fatalf("exit %d: %q", code, stderr)
	}
	if got := strings.Join(order, ", "); got != "last, first" {
		t.Fatalf("close order: %s; want last, then the dependencies, then first", got)
	}
}

func TestDependencyNeedsItsDeadlineVariable(t *testing.T) {
	var cfg plain
	code, _, stderr := run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		_, err := env.Postgres(ctx, "host=127.0.0.1", nil, "widget")
		return err
	})
	if code != 1 || !strings.Contains(stderr, "SQL_TIMEOUT") {
		t.Fatalf("Postgres without setup.SQL: exit %d, %q", code, stderr)
	}
	code, _, stderr = run(t, &cfg, func(ctx context.Context, env *setup.Env) error {
		_, err := env.Store(ctx, config.Bucket{Endpoint: "file:///nonexistent"})
		return err
	})
	if code != 1 || !strings.Contains(stderr, "STORE_TIMEOUT") {
		t.Fatalf("Store without setup.Store: exit %d, %q", code, stderr)
	}
}
