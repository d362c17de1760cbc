package epdb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/services/registry-processor/internal/model"
)

// CredRow is one credential claimed for posting.
type CredRow struct {
	RecordID int64
	Corp     string
	TypeCd   string
	Schema   string
	Version  string
	JSON     string  // credential_json as stored
	Reason   *string // credential_reason; nil when NULL (sent as null, as the original sends None)
	// Resend says the row was unconfirmed: a request carrying it was sent
	// and never answered, so the controller may have it already.
	Resend bool
}

// expiryCutoff is the original's "now" for expiry_date: UTC, to the
// second, compared as a string with the credential's expiry_date.
func expiryCutoff(now time.Time) string { return now.UTC().Format("2006-01-02T15:04:05") }

// notExpiring is the original's posting filter on expiry_date: empty,
// absent, or not after now ($2).
const notExpiring = `(credential_json->>'expiry_date' = '' OR credential_json->>'expiry_date' IS NULL
	     OR credential_json->>'expiry_date' <= $2)`

// Claim takes up to limit credentials with record_id > after for the
// claim (a name unique to one posting run's page), in record_id order
// (generation order, so a corp's credentials are adjacent), and returns
// them. Only rows nobody holds are taken: never answered, not claimed,
// and either never sent or unconfirmed since resendBefore (the zero time:
// no unconfirmed row). A credential whose expiry_date is after now waits.
// The claim is the mark that the rows may reach the controller: two
// processes can never post the same row, even without the advisory lock.
func (d *DB) Claim(ctx context.Context, claim string, after int64, limit int, now, resendBefore time.Time) ([]CredRow, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var resend *time.Time
	if !resendBefore.IsZero() {
		resend = &resendBefore
	}
	// A fresh row is claimed by inserting its claim (the primary key
	// keeps a second claimer out); a held row by taking over its claim
	// and clearing the hold, so no second claimer sees it either.
	var out []CredRow
	err := d.ordered(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = claimRows(ctx, tx, claim, after, limit, now, resend)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b CredRow) int { return cmp.Compare(a.RecordID, b.RecordID) })
	return out, nil
}

func claimRows(ctx context.Context, tx pgx.Tx, claim string, after int64, limit int, now time.Time, resend *time.Time) ([]CredRow, error) {
	rows, err := tx.Query(ctx, `
		WITH pick AS (
			SELECT c.record_id, h.record_id IS NOT NULL AS held
			  FROM credential_log c LEFT JOIN rp_claims h ON h.record_id = c.record_id
			 WHERE c.process_date IS NULL AND c.system_type_cd = $1 AND c.record_id > $3
			   AND (h.record_id IS NULL OR h.unconfirmed_at <= $5)
			   AND `+notExpiring+`
			 ORDER BY c.record_id LIMIT $4),
		fresh AS (
			INSERT INTO rp_claims (record_id, claim) SELECT record_id, $6 FROM pick WHERE NOT held
			ON CONFLICT (record_id) DO NOTHING
			RETURNING record_id, false AS resend),
		again AS (
			UPDATE rp_claims h SET claim = $6, sent_at = now(), unconfirmed_at = NULL, attempts = h.attempts + 1
			  FROM pick WHERE pick.held AND h.record_id = pick.record_id AND h.unconfirmed_at <= $5
			RETURNING h.record_id, true AS resend),
		got AS (SELECT * FROM fresh UNION ALL SELECT * FROM again)
		SELECT c.record_id, c.corp_num, c.credential_type_cd, c.schema_name, c.schema_version, c.credential_json::text,
		       c.credential_reason, got.resend
		  FROM got JOIN credential_log c ON c.record_id = got.record_id`,
		model.System, expiryCutoff(now), after, limit, resend, claim)
	if err != nil {
		return nil, fmt.Errorf("claim credentials to post after record %d: %w", after, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CredRow, error) {
		var c CredRow
		err := r.Scan(&c.RecordID, &c.Corp, &c.TypeCd, &c.Schema, &c.Version, &c.JSON, &c.Reason, &c.Resend)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim credentials to post after record %d: %w", after, err)
	}
	return out, nil
}

// Posted is the controller's answer for one credential, under the claim
// it was sent with.
type Posted struct {
	RecordID int64
	Claim    string
	Success  bool
	Result   string // thread id, or the failure message
}

// MarkPosted writes answers in one statement: 'Y' with the thread id or
// 'N' with the message cut as the original cuts it. An answer counts for
// a row still under its claim, held or not (a later run may have found it
// orphaned; the answer is the truth about it); a row answered already
// keeps its first answer. It returns how many rows took an answer.
func (d *DB) MarkPosted(ctx context.Context, results []Posted) (int, error) {
	if len(results) == 0 {
		return 0, nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	ids := make([]int64, len(results))
	claims := make([]string, len(results))
	oks := make([]string, len(results))
	msgs := make([]string, len(results))
	for i, r := range results {
		ids[i], claims[i], oks[i], msgs[i] = r.RecordID, r.Claim, "N", CutMsg(r.Result)
		if r.Success {
			oks[i] = "Y"
		}
	}
	tag, err := d.pool.Exec(ctx, `
		WITH done AS (
			DELETE FROM rp_claims h USING unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, claim, ok, msg)
			 WHERE h.record_id = u.id AND h.claim = u.claim
			RETURNING h.record_id, u.ok, u.msg)
		UPDATE credential_log c SET process_date = `+nowLocal+`, process_success = done.ok, process_msg = done.msg
		  FROM done WHERE c.record_id = done.record_id AND c.process_date IS NULL`, ids, claims, oks, msgs)
	if err != nil {
		return 0, fmt.Errorf("write %d posting results (first record %d): %w", len(results), ids[0], err)
	}
	return int(tag.RowsAffected()), nil
}

// MarkUnconfirmed holds rows whose request was sent and never answered:
// the controller may have issued them, so nothing sends them again until
// the operator says so. It returns how many rows it held.
func (d *DB) MarkUnconfirmed(ctx context.Context, claim string, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `
		UPDATE rp_claims SET unconfirmed_at = now() WHERE record_id = ANY($1) AND claim = $2`, ids, claim)
	if err != nil {
		return 0, fmt.Errorf("hold %d unconfirmed credentials (claim %s, first record %d): %w", len(ids), claim, ids[0], err)
	}
	return int(tag.RowsAffected()), nil
}

// Release gives back claimed rows that were never sent (the run stopped
// before their turn, or the controller refused the connection): a fresh
// row is postable again, one that was held (resend) is held again. It
// also undoes a hold another run put on them while they were claimed.
func (d *DB) Release(ctx context.Context, claim string, ids []int64, resend []bool) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var n int
	err := d.pool.QueryRow(ctx, `
		WITH u AS (SELECT * FROM unnest($1::bigint[], $3::bool[]) AS u(id, resend)),
		gone AS (DELETE FROM rp_claims h USING u WHERE h.record_id = u.id AND h.claim = $2 AND NOT u.resend RETURNING h.record_id),
		kept AS (UPDATE rp_claims h SET unconfirmed_at = now(), attempts = greatest(h.attempts - 1, 1)
		           FROM u WHERE h.record_id = u.id AND h.claim = $2 AND u.resend RETURNING h.record_id)
		SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept)`, ids, claim, resend).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("release %d unsent credentials (claim %s, first record %d): %w", len(ids), claim, ids[0], err)
	}
	return n, nil
}

// HoldOrphans holds as unconfirmed every row still claimed and not
// answered: at the start of a posting run under the lock, such claims
// belong to a process that died (or lost the lock) with requests in
// flight. It returns how many rows it held.
func (d *DB) HoldOrphans(ctx context.Context) (int, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	// Claims whose rows were answered some other way (requeue, by
	// hand) are dropped first.
	var n int
	err := d.pool.QueryRow(ctx, `
		WITH stale AS (
			DELETE FROM rp_claims h USING credential_log c WHERE c.record_id = h.record_id AND c.process_date IS NOT NULL
			RETURNING h.record_id),
		held AS (
			UPDATE rp_claims h SET unconfirmed_at = now() FROM credential_log c
			 WHERE c.record_id = h.record_id AND c.process_date IS NULL AND h.unconfirmed_at IS NULL AND c.system_type_cd = $1
			RETURNING h.record_id)
		SELECT (SELECT count(*) FROM held) + 0 * (SELECT count(*) FROM stale)`, model.System).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("hold credentials left claimed by a stopped process: %w", err)
	}
	return n, nil
}

// Unconfirmed is every credential held as unconfirmed, oldest first.
func (d *DB) Unconfirmed(ctx context.Context) ([]int64, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT c.record_id FROM rp_claims h JOIN credential_log c ON c.record_id = h.record_id
		WHERE c.process_date IS NULL AND h.unconfirmed_at IS NOT NULL AND c.system_type_cd = $1
		ORDER BY c.record_id`, model.System)
	if err != nil {
		return nil, fmt.Errorf("read unconfirmed credentials: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read unconfirmed credentials: %w", err)
	}
	return ids, nil
}

// RequeueFailed is the original's manual requeue tools for failures, in
// one transaction: failed ('N') credentials are made postable again and
// failed queue rows pending again (their credentials are regenerated; the
// hash index skips those already stored, so nothing posted is issued
// twice). corp "" means every corp. It returns the queue rows and
// credentials reset.
func (d *DB) RequeueFailed(ctx context.Context, corp string) (queue, creds int, err error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE event_by_corp_filing SET process_date = NULL, process_success = NULL, process_msg = NULL
			WHERE system_type_cd = $1 AND process_success = 'N' AND ($2 = '' OR corp_num = $2)`, model.System, corp)
		if err != nil {
			return fmt.Errorf("requeue failed queue rows (corp %q): %w", corp, err)
		}
		queue = int(tag.RowsAffected())
		creds, err = resetFailedCreds(ctx, tx, corp)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return queue, creds, nil
}

// resetFailedCreds makes failed credentials postable again (an answered
// row has no claim left).
func resetFailedCreds(ctx context.Context, tx pgx.Tx, corp string) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE credential_log SET process_date = NULL, process_success = NULL, process_msg = NULL
		WHERE system_type_cd = $1 AND process_success = 'N' AND ($2 = '' OR corp_num = $2)`, model.System, corp)
	if err != nil {
		return 0, fmt.Errorf("requeue failed credentials (corp %q): %w", corp, err)
	}
	return int(tag.RowsAffected()), nil
}

// RequeueCorp queues one corporation again, whatever became of it before
// (processed, failed, skipped, or never queued), with its whole history as
// the window, as the original's requeueOrganization did, and makes its
// failed credentials postable again. Unlike that tool it deletes nothing:
// credentials regenerated with a hash already stored are skipped, so
// nothing posted is issued twice. It returns the credentials reset.
func (d *DB) RequeueCorp(ctx context.Context, corp string) (creds int, err error) {
	if strings.TrimSpace(corp) == "" {
		return 0, fmt.Errorf("requeue: --corp needs a corp number")
	}
	hw, err := d.HighWater(ctx)
	if err != nil {
		return 0, err
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO event_by_corp_filing (system_type_cd, corp_num, prev_event_id, prev_event_date,
			                                  last_event_id, last_event_date, entry_date)
			VALUES ($1, $2, 0, $3, $4, $5, `+nowLocal+`)`, model.System, corp, MinEventDate, hw.EventID, hw.EventDate); err != nil {
			return fmt.Errorf("requeue corp %s: %w", corp, err)
		}
		creds, err = resetFailedCreds(ctx, tx, corp)
		return err
	})
	if err != nil {
		return 0, err
	}
	return creds, nil
}

// MinEventDate is the date of event 0, the PREV of a corp's whole history
// (the original's datetime(MINYEAR, 1, 1)).
var MinEventDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// Ours says whether our own additions (rp_runs, rp_claims) are
// there: `status` and `requeue` do not migrate, and on a database only the
// original has run on they work on its tables alone.
func (d *DB) Ours(ctx context.Context) (bool, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var ok bool
	err := d.pool.QueryRow(ctx, `SELECT to_regclass('rp_runs') IS NOT NULL AND to_regclass('rp_claims') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for the registry-processor's tables: %w", err)
	}
	return ok, nil
}

// LoggedCred is a credential_log row as `verify` compares it.
type LoggedCred struct {
	RecordID int64
	TypeCd   string
	ID       string
	JSON     string
	Hash     string
	Success  string // process_success, "" when outstanding
}

// CredentialsOf is every BC_REG credential of the corps, by corp, in
// record order.
func (d *DB) CredentialsOf(ctx context.Context, corps []string) (map[string][]LoggedCred, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT corp_num, record_id, credential_type_cd, credential_id, credential_json::text, credential_hash, coalesce(process_success, '')
		FROM credential_log WHERE corp_num = ANY($1) AND system_type_cd = $2 ORDER BY record_id`, corps, model.System)
	if err != nil {
		return nil, fmt.Errorf("read the credentials of %d corps: %w", len(corps), err)
	}
	defer rows.Close()
	out := map[string][]LoggedCred{}
	for rows.Next() {
		var corp string
		var l LoggedCred
		if err := rows.Scan(&corp, &l.RecordID, &l.TypeCd, &l.ID, &l.JSON, &l.Hash, &l.Success); err != nil {
			return nil, fmt.Errorf("read the credentials of %d corps: %w", len(corps), err)
		}
		out[corp] = append(out[corp], l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the credentials of %d corps: %w", len(corps), err)
	}
	return out, nil
}

// Reached is, per corp, the furthest LAST of its processed queue rows.
func (d *DB) Reached(ctx context.Context, corps []string) (map[string]Mark, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT DISTINCT ON (corp_num) corp_num, last_event_id, last_event_date FROM event_by_corp_filing
		WHERE corp_num = ANY($1) AND system_type_cd = $2 AND process_date IS NOT NULL
		ORDER BY corp_num, last_event_date DESC, last_event_id DESC`, corps, model.System)
	if err != nil {
		return nil, fmt.Errorf("read how far %d corps were processed: %w", len(corps), err)
	}
	defer rows.Close()
	out := map[string]Mark{}
	for rows.Next() {
		var corp string
		var m Mark
		if err := rows.Scan(&corp, &m.EventID, &m.EventDate); err != nil {
			return nil, fmt.Errorf("read how far %d corps were processed: %w", len(corps), err)
		}
		m.EventDate = naive(m.EventDate)
		out[corp] = m
	}
	return out, rows.Err()
}
