// Package colin reads the BC Registries COLIN source schema (bc_registries):
// the high-water mark of its event log, the corps touched by events since
// a mark, every corp for the initial load, and whole corporation
// histories as model.Corp, a batch of corps at a time in a fixed number of
// queries. It only reads.
package colin

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/services/registry-processor/internal/model"
)

// Source reads COLIN through a pool. Every statement (or batch of
// statements sent in one round trip) runs under its own deadline.
type Source struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

// New returns a Source; timeout bounds each statement (or batch sent
// together). Zero or less means one minute, so no read waits forever.
func New(pool *pgxpool.Pool, timeout time.Duration) *Source {
	if timeout <= 0 {
		timeout = time.Minute
	}
	return &Source{pool: pool, timeout: timeout}
}

func (s *Source) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Check is the readiness check: the event table is reachable.
func (s *Source) Check(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM bc_registries.event LIMIT 1`).Scan(&one); err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("check COLIN source: %w", err)
	}
	return nil
}

// MaxEventBefore is the original's "max before now": the largest
// event_timestmp at or before now (a naive Pacific wall clock, as COLIN
// stores times) and the largest event_id at that timestamp, with that
// event's effective date resolved without a corp type (as the original's
// get_event_effective_date does). With no such event it returns id 0 and
// zero times; the caller's sanity check rejects a max event id of 0.
func (s *Source) MaxEventBefore(ctx context.Context, now time.Time) (id int64, ts time.Time, effective time.Time, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	e := model.Event{}
	var filingTyp, corp *string
	err = s.pool.QueryRow(ctx, `
SELECT e.event_id, e.corp_num, e.event_typ_cd, e.event_timestmp, e.trigger_dts,
       f.filing_typ_cd, f.effective_dt, c.effective_dt
  FROM bc_registries.event e
  LEFT JOIN bc_registries.filing f ON f.event_id = e.event_id AND e.event_typ_cd = 'FILE'
  LEFT JOIN bc_registries.conv_event c ON c.event_id = e.event_id AND e.event_typ_cd LIKE 'CONV%'
 WHERE e.event_timestmp <= $1::timestamp
 ORDER BY e.event_timestmp DESC, e.event_id DESC
 LIMIT 1`, now).Scan(&e.ID, &corp, &e.TypeCd, &e.Timestamp, &e.Trigger, &filingTyp, &e.FilingEffective, &e.ConvEffective)
	if err == pgx.ErrNoRows {
		return 0, time.Time{}, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("find the last COLIN event at or before %s: %w", now.Format(time.DateTime), err)
	}
	return e.ID, e.Timestamp, Effective(&e, ""), nil
}

// Touched is what the events since a mark touch.
type Touched struct {
	Corps  []string // the candidate corps, deduplicated and sorted bytewise
	Events int      // events past the mark (after its timestamp, or at it with a larger id)
	// Invalid names the events in the window that cannot be queued: no
	// corp number at all (NULL). The original would have failed the whole
	// run on them; they are reported and left out.
	Invalid []string
}

// CorpsSince returns the candidate corps for the events with
// event_timestmp at or after sinceDate (the high-water mark's date; its
// event id, sinceID, only tells the new events from those seen), with no upper bound, as the
// original's get_unprocessed_corps: the events' corp_num, the corp_state
// rows that start or end with one of those events, and the corps linked
// to either of those by an FBO corp_party row in either direction (one
// step, not transitively). No event or filing type filter; blank corp
// numbers are skipped.
func (s *Source) CorpsSince(ctx context.Context, sinceDate time.Time, sinceID int64) (Touched, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b := &pgx.Batch{}
	// MATERIALIZED: the event window is scanned once and joined three
	// ways; the corp_state and corp_party lookups use their indexes.
	b.Queue(`
WITH ev AS MATERIALIZED (
    SELECT event_id, corp_num FROM bc_registries.event WHERE event_timestmp >= $1::timestamp
), base AS MATERIALIZED (
    SELECT corp_num FROM ev
    UNION
    SELECT cs.corp_num FROM bc_registries.corp_state cs JOIN ev ON cs.start_event_id = ev.event_id
    UNION
    SELECT cs.corp_num FROM bc_registries.corp_state cs JOIN ev ON cs.end_event_id = ev.event_id
)
SELECT corp_num FROM base WHERE btrim(corp_num) <> ''
UNION
SELECT p.corp_num FROM bc_registries.corp_party p JOIN base b ON p.bus_company_num = b.corp_num
 WHERE p.party_typ_cd = 'FBO' AND btrim(b.corp_num) <> '' AND btrim(p.corp_num) <> ''
UNION
SELECT p.bus_company_num FROM bc_registries.corp_party p JOIN base b ON p.corp_num = b.corp_num
 WHERE p.party_typ_cd = 'FBO' AND btrim(b.corp_num) <> '' AND btrim(p.bus_company_num) <> ''`, sinceDate)
	b.Queue(`
SELECT count(*) FILTER (WHERE event_timestmp > $1::timestamp OR event_id > $2),
       coalesce(array_agg(event_id ORDER BY event_id) FILTER (WHERE corp_num IS NULL), '{}')
  FROM bc_registries.event WHERE event_timestmp >= $1::timestamp`, sinceDate, sinceID)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	what := sinceDate.Format(time.DateTime)
	rows, err := br.Query()
	if err != nil {
		return Touched{}, fmt.Errorf("find corps with COLIN events since %s: %w", what, err)
	}
	corps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return Touched{}, fmt.Errorf("read corps with COLIN events since %s: %w", what, err)
	}
	var t Touched
	var nulls []int64
	if err := br.QueryRow().Scan(&t.Events, &nulls); err != nil {
		return Touched{}, fmt.Errorf("count COLIN events since %s: %w", what, err)
	}
	for _, id := range nulls {
		t.Invalid = append(t.Invalid, fmt.Sprintf("event.corp_num is NULL (event_id %d): the event names no corp", id))
	}
	sort.Strings(corps)
	t.Corps = corps
	return t, nil
}

// AllCorps returns up to limit corporation.corp_num values after `after`
// ("" for the first page), in the database's order of corp_num, so
// paging by the last value returned visits every corp once (the initial
// load). Blank corp numbers are skipped.
func (s *Source) AllCorps(ctx context.Context, after string, limit int) ([]string, error) {
	return s.CorpsBetween(ctx, after, "", limit)
}

// CorpsBetween is AllCorps up to and including to ("" for no bound): a
// range for `verify`. Comparison and order are in the column's collation,
// so the primary key index serves both and the paging is consistent;
// blank numbers are filtered on every page, so they never move the cursor.
func (s *Source) CorpsBetween(ctx context.Context, after, to string, limit int) ([]string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
SELECT corp_num FROM bc_registries.corporation
 WHERE corp_num > $1 AND ($3 = '' OR corp_num <= $3) AND btrim(corp_num) <> ''
 ORDER BY corp_num
 LIMIT $2`, after, limit, to)
	if err != nil {
		return nil, fmt.Errorf("page COLIN corporations after %q: %w", after, err)
	}
	corps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read COLIN corporations after %q: %w", after, err)
	}
	return corps, nil
}
