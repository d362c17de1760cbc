package epdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run is one run of a stage or verb, for the status page's "last runs".
type Run struct {
	ID        int64
	Verb      string // run, initial-load, post, …
	Started   time.Time
	Finished  time.Time // zero while running
	Corps     int64     // queue rows processed
	Generated int64     // credentials inserted
	Posted    int64     // credentials answered 'Y'
	Failed    int64     // credentials answered 'N'
	// Unconfirmed is the credentials the run held as unconfirmed (sent,
	// never answered).
	Unconfirmed int64
	Note        string // e.g. why the run was flagged to page someone
	Err         string // why the run stopped, if it failed
}

// RecordRun inserts r, or updates it when r.ID is set (a run recorded at
// its start and again at its end). The new id is written to r.ID.
func (d *DB) RecordRun(ctx context.Context, r *Run) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var fin *time.Time
	if !r.Finished.IsZero() {
		fin = &r.Finished
	}
	errText, note := nullable(r.Err), nullable(r.Note)
	if r.ID != 0 {
		if _, err := d.pool.Exec(ctx, `
			UPDATE rp_runs SET finished_at = $2, corps = $3, generated = $4, posted = $5, failed = $6, error = $7,
			       unconfirmed = $8, note = $9
			WHERE id = $1`, r.ID, fin, r.Corps, r.Generated, r.Posted, r.Failed, errText, r.Unconfirmed, note); err != nil {
			return fmt.Errorf("update run %d (%s): %w", r.ID, r.Verb, err)
		}
		return nil
	}
	if err := d.pool.QueryRow(ctx, `
		INSERT INTO rp_runs (verb, started_at, finished_at, corps, generated, posted, failed, error, unconfirmed, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		r.Verb, r.Started, fin, r.Corps, r.Generated, r.Posted, r.Failed, errText, r.Unconfirmed, note).Scan(&r.ID); err != nil {
		return fmt.Errorf("record run of %s: %w", r.Verb, err)
	}
	return nil
}

// Runs is the n most recent runs, newest first.
func (d *DB) Runs(ctx context.Context, n int) ([]Run, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT id, verb, started_at, finished_at, corps, generated, posted, failed, coalesce(error, ''),
		       unconfirmed, coalesce(note, '')
		FROM rp_runs ORDER BY started_at DESC, id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("read last %d runs: %w", n, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		var fin *time.Time
		err := row.Scan(&r.ID, &r.Verb, &r.Started, &fin, &r.Corps, &r.Generated, &r.Posted, &r.Failed, &r.Err, &r.Unconfirmed, &r.Note)
		if fin != nil {
			r.Finished = *fin
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read last %d runs: %w", n, err)
	}
	return out, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
