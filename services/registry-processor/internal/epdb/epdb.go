// Package epdb is the event-processor database: the original pipeline's
// queue and log tables (last_event, event_by_corp_filing,
// corp_history_log, credential_log) and our bookkeeping beside them
// (rp_runs, the rp_* posting columns). Every write of a batch is one
// transaction and one statement per table, never a round trip per row.
package epdb

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // the Pacific zone must not depend on the image having tzdata

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// nowLocal is the original's datetime.now() for entry_date and
// process_date: naive wall-clock time, here always Pacific (the
// registry's zone), whatever the server's or the session's zone.
const nowLocal = `(now() AT TIME ZONE 'America/Vancouver')`

// DB runs the event-processor statements with a deadline each.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	dates   pacific.Rules
}

// New wraps pool; timeout bounds each call (a statement, or a whole
// transaction for the batch writes). Dates print as pytz before 2024.2
// did until WithDates says otherwise.
func New(pool *pgxpool.Pool, timeout time.Duration) *DB {
	if timeout <= 0 {
		timeout = time.Minute
	}
	return &DB{pool: pool, timeout: timeout}
}

// WithDates is the DB writing the event JSON of its rows with the given
// tz rules (PYTZ_TZDATA).
func (d *DB) WithDates(r pacific.Rules) *DB {
	c := *d
	c.dates = r
	return &c
}

// Pool is the pool the DB runs on.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

func (d *DB) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// Mark is a position in the source's event stream: an event id and its
// date, naive Pacific.
type Mark struct {
	EventID   int64
	EventDate time.Time
}

// HighWater is the last BC_REG mark queued: the largest event_date in
// last_event and the largest event id at that date, as the original reads
// it (one row is added per batch of found events, so the newest row is
// not necessarily the largest).
func (d *DB) HighWater(ctx context.Context) (Mark, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var m Mark
	err := d.pool.QueryRow(ctx, `
		SELECT event_date, max(event_id) FROM last_event
		WHERE system_type_cd = $1
		  AND event_date = (SELECT max(event_date) FROM last_event WHERE system_type_cd = $1)
		GROUP BY event_date`, model.System).Scan(&m.EventDate, &m.EventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Mark{}, fmt.Errorf("read high-water mark: last_event has no %s row (run migrate, which seeds it)", model.System)
	}
	if err != nil {
		return Mark{}, fmt.Errorf("read high-water mark from last_event: %w", err)
	}
	m.EventDate = naive(m.EventDate)
	return m, nil
}

// Queue adds one event_by_corp_filing row per corp (COPY) with prev and
// last, and one last_event row at last, in one transaction: the mark moves
// only together with the corps it covers. Blank corp numbers are skipped,
// as the original does.
func (d *DB) Queue(ctx context.Context, corps []string, prev, last Mark) error {
	return d.queue(ctx, corps, prev, last, true)
}

// Enqueue is Queue without moving the high-water mark: a page of an
// initial load, whose mark moves once every page is queued.
func (d *DB) Enqueue(ctx context.Context, corps []string, prev, last Mark) error {
	return d.queue(ctx, corps, prev, last, false)
}

// MoveMark adds a last_event row: the high-water mark of an initial load,
// written once every corp is queued.
func (d *DB) MoveMark(ctx context.Context, m Mark) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `INSERT INTO last_event (system_type_cd, event_id, event_date, entry_date) VALUES ($1, $2, $3, `+nowLocal+`)`,
		model.System, m.EventID, m.EventDate); err != nil {
		return fmt.Errorf("record high-water mark event %d at %s: %w", m.EventID, m.EventDate.Format(time.DateTime), err)
	}
	return nil
}

func (d *DB) queue(ctx context.Context, corps []string, prev, last Mark, mark bool) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var entry time.Time
		if err := tx.QueryRow(ctx, `SELECT `+nowLocal).Scan(&entry); err != nil {
			return fmt.Errorf("queue %d corps: read the clock: %w", len(corps), err)
		}
		rows := make([][]any, 0, len(corps))
		for _, c := range corps {
			if c == "" {
				continue
			}
			rows = append(rows, []any{model.System, c, prev.EventID, prev.EventDate, last.EventID, last.EventDate, entry})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event_by_corp_filing"},
			[]string{"system_type_cd", "corp_num", "prev_event_id", "prev_event_date", "last_event_id", "last_event_date", "entry_date"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("queue %d corps (events %d..%d) into event_by_corp_filing: %w", len(rows), prev.EventID, last.EventID, err)
		}
		if !mark {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO last_event (system_type_cd, event_id, event_date, entry_date) VALUES ($1, $2, $3, $4)`,
			model.System, last.EventID, last.EventDate, entry); err != nil {
			return fmt.Errorf("record high-water mark event %d at %s: %w", last.EventID, last.EventDate.Format(time.DateTime), err)
		}
		return nil
	})
}

// QueueRow is one pending event_by_corp_filing row.
type QueueRow struct {
	RecordID   int64
	Corp       string
	Prev, Last Mark
}

// Pending is up to limit unprocessed BC_REG queue rows, oldest first (the
// order the original processes them in; served by ebcf_ri_pd_null_asc).
func (d *DB) Pending(ctx context.Context, limit int) ([]QueueRow, error) {
	return d.pending(ctx, 0, limit, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
}

// Due is Pending without the rows a corp's future-dated events queued
// again whose release date (the first of those events' effective dates)
// is still ahead of now, naive Pacific: processing one before its day only
// queues it again, and within one run that would never end. Rows without
// a release date (queued by events, or by the original) are due now.
// after is the last record id the caller already holds (0: none), so the
// next batch can be read while the one before is still being committed.
func (d *DB) Due(ctx context.Context, after int64, limit int, now time.Time) ([]QueueRow, error) {
	return d.pending(ctx, after, limit, now)
}

func (d *DB) pending(ctx context.Context, after int64, limit int, due time.Time) ([]QueueRow, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var out []QueueRow
	err := d.ordered(ctx, func(q pgx.Tx) error {
		var err error
		out, err = d.pendingRows(ctx, q, after, limit, due)
		return err
	})
	return out, err
}

// ordered runs fn in a transaction whose plans read a partial index in
// its order and stop at the LIMIT: a page of the queue must cost the same
// at the end of a backlog of millions as at its start. Without it a table
// whose statistics lag behind a bulk load (or a planner that guesses few
// pending rows) reads every pending row and sorts them, once per page.
func (d *DB) ordered(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			return fmt.Errorf("plan a page in record order: %w", err)
		}
		return fn(tx)
	})
}

func (d *DB) pendingRows(ctx context.Context, tx pgx.Tx, after int64, limit int, due time.Time) ([]QueueRow, error) {
	rows, err := tx.Query(ctx, `
		SELECT record_id, corp_num, prev_event_id, prev_event_date, last_event_id, last_event_date
		FROM event_by_corp_filing
		WHERE process_date IS NULL AND system_type_cd = $1 AND (rp_release_date IS NULL OR rp_release_date <= $3) AND record_id > $4
		ORDER BY record_id LIMIT $2`, model.System, limit, due, after)
	if err != nil {
		return nil, fmt.Errorf("read pending queue rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueueRow, error) {
		var q QueueRow
		err := r.Scan(&q.RecordID, &q.Corp, &q.Prev.EventID, &q.Prev.EventDate, &q.Last.EventID, &q.Last.EventDate)
		q.Prev.EventDate, q.Last.EventDate = naive(q.Prev.EventDate), naive(q.Last.EventDate)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("read pending queue rows: %w", err)
	}
	return out, nil
}

// Check says the event-processor tables are there and answer.
func (d *DB) Check(ctx context.Context) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `SELECT
		(SELECT 1 FROM last_event LIMIT 1), (SELECT 1 FROM event_by_corp_filing LIMIT 1),
		(SELECT 1 FROM corp_history_log LIMIT 1), (SELECT 1 FROM credential_log LIMIT 1),
		(SELECT 1 FROM rp_runs LIMIT 1)`)
	if err != nil {
		return fmt.Errorf("event-processor database: %w", err)
	}
	return nil
}

// naive drops whatever location pgx gave a timestamp-without-time-zone
// value, keeping the wall clock, as the model carries times.
func naive(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// CutMsg is the original's rule for process_msg (varchar(255)): a longer
// message becomes its first 250 characters and "...".
func CutMsg(s string) string {
	r := []rune(s)
	if len(r) <= 255 {
		return s
	}
	return string(r[:250]) + "..."
}
