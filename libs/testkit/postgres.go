package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresAdmin is the DSN of a database from which test databases are
// created: DATABASE_URL if set, else the local server on 127.0.0.1:5432,
// else a throwaway cluster made with initdb for this test process.
var postgresAdmin = sync.OnceValues(func() (string, error) {
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		return dsn, ping(dsn)
	}
	local := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if err := ping(local); err == nil {
		return local, nil
	}
	return startThrowawayCluster()
})

const postgresHowTo = "Start the local server with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n" +
	"or point DATABASE_URL at one (postgres://user@host:5432/postgres?sslmode=disable)."

// Postgres returns the DSN of a fresh, empty database that is dropped when
// the test ends. Tests in parallel each get their own.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := PostgresAdmin()
	if err != nil {
		t.Fatalf("testkit: no PostgreSQL: %v\n%s", err, postgresHowTo)
	}
	name := "tk_" + sanitize(t.Name(), 40) + "_" + randomHex(4)
	dsn, err := CreateDatabase(admin, name)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() {
		if err := DropDatabase(admin, name); err != nil {
			t.Errorf("testkit: %v", err)
		}
	})
	return dsn
}

// PostgresAdmin is the DSN tests and the devstack create databases from:
// DATABASE_URL, else 127.0.0.1:5432, else a throwaway initdb cluster.
func PostgresAdmin() (string, error) { return postgresAdmin() }

// CreateDatabase creates database name on the admin server and returns
// its DSN.
func CreateDatabase(admin, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return withDatabase(admin, name), nil
}

// DropDatabase drops database name, closing its connections.
func DropDatabase(admin, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func ping(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// withDatabase swaps the database in either DSN form.
func withDatabase(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	re := regexp.MustCompile(`(^|\s)dbname=\S+`)
	if re.MatchString(dsn) {
		return re.ReplaceAllString(dsn, "${1}dbname="+db)
	}
	return dsn + " dbname=" + db
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

func sanitize(s string, max int) string {
	s = unsafeName.ReplaceAllString(strings.ToLower(s), "_")
	if len(s) > max {
		s = s[:max]
	}
	return strings.Trim(s, "_")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startThrowawayCluster makes a cluster with initdb in a temp dir and runs
// it on a free port. It dies with the test process (Pdeathsig). As root it
// runs as the postgres user, since PostgreSQL refuses to run as root.
func startThrowawayCluster() (string, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "testkit-pg-")
	if err != nil {
		return "", err
	}
	asUser := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
		return exec.Command(name, args...)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			return "", fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asUser(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := asUser(filepath.Join(bin, "postgres"), "-D", data, "-p", fmt.Sprint(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err = ping(dsn); err == nil {
			return dsn, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("throwaway postgres did not answer: %w", err)
}

func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("no PostgreSQL on 127.0.0.1:5432 and no initdb to make one (apt-get install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
