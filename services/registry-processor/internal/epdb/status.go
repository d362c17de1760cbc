package epdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/services/registry-processor/internal/model"
)

// StatusTables are the stages the original's status prints, in its order.
var StatusTables = []string{"event_by_corp_filing", "corp_history_log", "credential_log"}

// RecentErrors is how many failed rows the status shows per table, newest
// first, as the original.
const RecentErrors = 20

// StageCounts is one stage's line of the status.
type StageCounts struct {
	Table       string
	Processed   int64
	Outstanding int64
	Errors      int64
	Recent      []map[string]any // up to RecentErrors whole rows with process_success 'N'
}

// Status runs the original's status queries for BC_REG. Processed is
// process_date set (for credential_log also not held 'A' and not expiring
// after now); outstanding is process_date NULL. Unlike the original, the
// error count and the recent errors are of this system only: the
// original counted every system's errors on each system's line.
func (d *DB) Status(ctx context.Context, now time.Time) ([]StageCounts, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	out := make([]StageCounts, 0, len(StatusTables))
	for _, table := range StatusTables {
		// table comes from StatusTables, never from outside.
		processed := `process_date IS NOT NULL`
		args := []any{model.System}
		if table == "credential_log" {
			processed += ` AND process_success != 'A' AND (credential_json->>'expiry_date' = ''
				OR credential_json->>'expiry_date' IS NULL OR credential_json->>'expiry_date' <= $2)`
			args = append(args, expiryCutoff(now))
		}
		s := StageCounts{Table: table}
		if err := d.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE `+processed+`),
			count(*) FILTER (WHERE process_date IS NULL),
			count(*) FILTER (WHERE process_success = 'N')
			FROM `+table+` WHERE system_type_cd = $1`, args...).Scan(&s.Processed, &s.Outstanding, &s.Errors); err != nil {
			return nil, fmt.Errorf("status of %s: %w", table, err)
		}
		if s.Errors > 0 {
			rows, err := d.pool.Query(ctx, `SELECT * FROM `+table+`
				WHERE process_success = 'N' AND system_type_cd = $1
				ORDER BY process_date DESC LIMIT $2`, model.System, RecentErrors)
			if err != nil {
				return nil, fmt.Errorf("status of %s: recent errors: %w", table, err)
			}
			s.Recent, err = pgx.CollectRows(rows, pgx.RowToMap)
			if err != nil {
				return nil, fmt.Errorf("status of %s: recent errors: %w", table, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// PostedSince counts credentials answered by the controller ('Y' or 'N')
// in the last window, for the posting rate.
func (d *DB) PostedSince(ctx context.Context, window time.Duration) (ok, failed int64, err error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	err = d.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE process_success = 'Y'), count(*) FILTER (WHERE process_success = 'N')
		FROM credential_log
		WHERE process_success = ANY('{Y,N}') AND system_type_cd = $1
		  AND process_date >= `+nowLocal+` - make_interval(secs => $2)`, model.System, window.Seconds()).Scan(&ok, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("count credentials posted in the last %s: %w", window, err)
	}
	return ok, failed, nil
}
