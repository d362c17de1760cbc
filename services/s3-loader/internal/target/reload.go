package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"tributary.dev/services/s3-loader/internal/source"
)

// Reload is one table of a reload: its DMS folder, the table it loads
// into, and the time its change files start from in the new snapshot.
type Reload struct {
	Source  source.Table
	Target  *Table
	CDCFrom time.Time
}

// Reload starts the next generation of each table, in one transaction:
// it empties the target tables (one TRUNCATE, so tables that reference
// each other go together) and records each table's new generation and
// where its change files start. Deliveries of earlier generations stay
// recorded, with their notifications; the next pass applies the new
// snapshot's LOAD files from the first. It returns the new generations.
func (t *Target) Reload(ctx context.Context, bucket string, tables []Reload, note string) (map[source.Table]int, error) {
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var quoted []string
	for _, r := range tables {
		quoted = append(quoted, r.Target.Quoted())
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(quoted, ", ")); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "0A000" {
			// "Table "items" references "orders"": reloading the
			// referenced table alone would leave rows pointing nowhere.
			return nil, fmt.Errorf("empty %s: %s (%s): reload the referencing tables in the same command", strings.Join(quoted, ", "), pe.Message, pe.Detail)
		}
		return nil, fmt.Errorf("empty %s: %w", strings.Join(quoted, ", "), err)
	}
	gens := map[source.Table]int{}
	for _, r := range tables {
		var g int
		err := tx.QueryRow(ctx, `
			INSERT INTO loader_tables (bucket, schema_name, table_name, generation, cdc_from, reloaded_at, reload_note)
			VALUES ($1, $2, $3, 2, $4, now(), $5)
			ON CONFLICT (bucket, schema_name, table_name) DO UPDATE
			SET generation = loader_tables.generation + 1, cdc_from = EXCLUDED.cdc_from,
			    reloaded_at = now(), reload_note = EXCLUDED.reload_note
			RETURNING generation`, bucket, r.Source.Schema, r.Source.Table, r.CDCFrom, note).Scan(&g)
		if err != nil {
			return nil, fmt.Errorf("record the reload of %s: %w", r.Source, err)
		}
		gens[r.Source] = g
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit the reload: %w", err)
	}
	return gens, nil
}
