package pg

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate applies a service's embedded *.sql files in name order, each in
// its own transaction together with its row in tributary_migrations. The
// whole run holds an advisory lock, so two replicas starting at once apply
// each file exactly once: the second waits, then finds nothing to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, service string, migrations fs.FS) error {
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", service, err)
	}
	defer conn.Release()
	unlock, err := AdvisoryLock(ctx, conn, "tributary_migrations")
	if err != nil {
		return fmt.Errorf("migrate %s: %w", service, err)
	}
	defer unlock()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.tributary_migrations (
		service    text        NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (service, name))`); err != nil {
		return fmt.Errorf("migrate %s: create tributary_migrations: %w", service, err)
	}
	applied := map[string]bool{}
	rows, err := conn.Query(ctx, `SELECT name FROM public.tributary_migrations WHERE service = $1`, service)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", service, err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		applied[n] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate %s: %w", service, err)
	}

	for _, name := range names {
		if applied[name] {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return fmt.Errorf("migrate %s: read %s: %w", service, name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if strings.TrimSpace(string(body)) != "" {
				if _, err := tx.Exec(ctx, string(body)); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO public.tributary_migrations (service, name) VALUES ($1, $2)`, service, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: apply %s: %w", service, name, err)
		}
	}
	return nil
}
