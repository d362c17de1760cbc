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
	Recent      []ErrorRow // up to RecentErrors rows with process_success 'N', newest first
}

// ErrorRow is a failed row as the status shows it: which corp, where,
// why and when — not the whole row (a credential's JSON says nothing an
// operator needs there).
type ErrorRow struct {
	Table    string    `json:"table"`
	RecordID int64     `json:"record_id"`
	Corp     string    `json:"corp"`
	Type     string    `json:"credential_type,omitempty"` // credential_log only
	Message  string    `json:"message"`
	At       time.Time `json:"at"` // process_date, naive Pacific as stored
}

// Status runs the original's status queries for BC_REG. Processed is
// process_date set (for credential_log also not held 'A' and not expiring
// after now); outstanding is process_date NULL. Unlike the original, the
// error count and the recent errors are of this system only: the
// original counted every system's errors on each system's line. Only
// reads: it runs under a read-only role.
func (d *DB) Status(ctx context.Context, now time.Time) ([]StageCounts, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	out := make([]StageCounts, 0, len(StatusTables))
	for _, table := range StatusTables {
		// table comes from StatusTables, never from outside.
		processed := `process_date IS NOT NULL`
		args := []any{model.System}
		typ := `''`
		if table == "credential_log" {
			processed += ` AND process_success != 'A' AND (credential_json->>'expiry_date' = ''
				OR credential_json->>'expiry_date' IS NULL OR credential_json->>'expiry_date' <= $2)`
			args = append(args, expiryCutoff(now))
			typ = `credential_type_cd`
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
			rows, err := d.pool.Query(ctx, `SELECT record_id, corp_num, `+typ+`, coalesce(process_msg, ''), process_date FROM `+table+`
				WHERE process_success = 'N' AND system_type_cd = $1
				ORDER BY process_date DESC, record_id DESC LIMIT $2`, model.System, RecentErrors)
			if err != nil {
				return nil, fmt.Errorf("status of %s: recent errors: %w", table, err)
			}
			s.Recent, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ErrorRow, error) {
				e := ErrorRow{Table: table}
				err := r.Scan(&e.RecordID, &e.Corp, &e.Type, &e.Message, &e.At)
				e.At = naive(e.At)
				return e, err
			})
			if err != nil {
				return nil, fmt.Errorf("status of %s: recent errors: %w", table, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Holds is what waits for someone or something: credentials held as
// unconfirmed, and queue rows held for a future effective date.
type Holds struct {
	Unconfirmed int64     `json:"unconfirmed"`
	Future      int64     `json:"future_dated"`
	NextRelease time.Time `json:"next_release,omitzero"` // the earliest release date, naive Pacific
}

// Held counts the holds (zero on a database without our additions).
func (d *DB) Held(ctx context.Context, now time.Time) (Holds, error) {
	var h Holds
	ours, err := d.Ours(ctx)
	if err != nil || !ours {
		return h, err
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var next *time.Time
	if err := d.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM rp_claims h JOIN credential_log c ON c.record_id = h.record_id
		  WHERE c.process_date IS NULL AND h.unconfirmed_at IS NOT NULL AND c.system_type_cd = $1),
		(SELECT count(*) FROM event_by_corp_filing WHERE process_date IS NULL AND rp_release_date > $2 AND system_type_cd = $1),
		(SELECT min(rp_release_date) FROM event_by_corp_filing WHERE process_date IS NULL AND rp_release_date > $2 AND system_type_cd = $1)`,
		model.System, now).Scan(&h.Unconfirmed, &h.Future, &next); err != nil {
		return h, fmt.Errorf("count held credentials and future-dated queue rows: %w", err)
	}
	if next != nil {
		h.NextRelease = naive(*next)
	}
	return h, nil
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
