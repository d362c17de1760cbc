package epdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/services/registry-processor/internal/model"
)

// CredRow is one credential waiting to be posted.
type CredRow struct {
	RecordID int64
	Corp     string
	TypeCd   string
	Schema   string
	Version  string
	JSON     string // credential_json as stored
	Reason   string // credential_reason ('' when NULL)
	// Sent says the row went out in a batch that was never answered (a
	// crash or a lost response): posting it again is the at-least-once
	// retry.
	Sent bool
}

// expiryCutoff is the original's "now" for expiry_date: UTC, to the
// second, compared as a string with the credential's expiry_date.
func expiryCutoff(now time.Time) string { return now.UTC().Format("2006-01-02T15:04:05") }

// postableWhere is the original's posting filter: unprocessed (held ADDR
// rows are processed 'A'), not expiring in the future.
const postableWhere = `process_date IS NULL AND system_type_cd = $1
	AND (credential_json->>'expiry_date' = '' OR credential_json->>'expiry_date' IS NULL
	     OR credential_json->>'expiry_date' <= $2)`

// Postable is up to limit credentials to post with record_id > after, in
// record_id order (generation order, so a corp's credentials are
// adjacent). A credential whose expiry_date is in the future waits.
func (d *DB) Postable(ctx context.Context, after int64, limit int, now time.Time) ([]CredRow, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT record_id, corp_num, credential_type_cd, schema_name, schema_version, credential_json::text,
		       coalesce(credential_reason, ''), rp_sent_at IS NOT NULL
		FROM credential_log
		WHERE `+postableWhere+` AND record_id > $3
		ORDER BY record_id LIMIT $4`, model.System, expiryCutoff(now), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read credentials to post after record %d: %w", after, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CredRow, error) {
		var c CredRow
		err := r.Scan(&c.RecordID, &c.Corp, &c.TypeCd, &c.Schema, &c.Version, &c.JSON, &c.Reason, &c.Sent)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read credentials to post after record %d: %w", after, err)
	}
	return out, nil
}

// MarkSent stamps rows just before their batch is posted: from here on
// the controller may have received them.
func (d *DB) MarkSent(ctx context.Context, ids []int64, batch string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `
		UPDATE credential_log SET rp_sent_at = now(), rp_batch = $2, rp_attempts = coalesce(rp_attempts, 0) + 1
		WHERE record_id = ANY($1) AND process_date IS NULL`, ids, batch); err != nil {
		return fmt.Errorf("mark batch %s sent (%d credentials from record %d): %w", batch, len(ids), ids[0], err)
	}
	return nil
}

// Posted is the controller's answer for one credential.
type Posted struct {
	RecordID int64
	Success  bool
	Result   string // thread id, or the failure message
}

// MarkPosted writes a batch of answers in one statement: 'Y' with the
// thread id or 'N' with the message cut to 255. A row that already has an
// answer keeps it.
func (d *DB) MarkPosted(ctx context.Context, results []Posted) error {
	if len(results) == 0 {
		return nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	ids := make([]int64, len(results))
	oks := make([]string, len(results))
	msgs := make([]string, len(results))
	for i, r := range results {
		ids[i], oks[i], msgs[i] = r.RecordID, "N", CutMsg(r.Result)
		if r.Success {
			oks[i] = "Y"
		}
	}
	if _, err := d.pool.Exec(ctx, `
		UPDATE credential_log c SET process_date = `+nowLocal+`, process_success = u.ok, process_msg = u.msg
		FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, ok, msg)
		WHERE c.record_id = u.id AND c.process_date IS NULL`, ids, oks, msgs); err != nil {
		return fmt.Errorf("write %d posting results (first record %d): %w", len(results), ids[0], err)
	}
	return nil
}

// Unconfirmed is every credential sent and never answered, oldest first:
// after a crash these are the ones the controller may or may not have.
func (d *DB) Unconfirmed(ctx context.Context) ([]int64, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT record_id FROM credential_log
		WHERE process_date IS NULL AND rp_sent_at IS NOT NULL AND system_type_cd = $1
		ORDER BY record_id`, model.System)
	if err != nil {
		return nil, fmt.Errorf("read unconfirmed credentials: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read unconfirmed credentials: %w", err)
	}
	return ids, nil
}

// Requeue is the original's manual requeue tools as one call, in one
// transaction. With failedOnly, failed ('N') credentials are made
// postable again and failed queue rows pending again (their credentials
// are regenerated; the hash index skips those already stored, so nothing
// posted is issued twice). Without failedOnly, corp is required and every
// queue row of that corp is reprocessed, with its failed credentials.
// corp "" means every corp. It returns the queue rows and credentials
// reset.
func (d *DB) Requeue(ctx context.Context, failedOnly bool, corp string) (queue, creds int, err error) {
	if !failedOnly && corp == "" {
		return 0, 0, fmt.Errorf("requeue: reprocessing every corp is initial-load's job; name a corp or requeue only failures")
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	queueWhere := `process_success = 'N'`
	if !failedOnly {
		queueWhere = `process_date IS NOT NULL`
	}
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE event_by_corp_filing SET process_date = NULL, process_success = NULL, process_msg = NULL
			WHERE system_type_cd = $1 AND `+queueWhere+` AND ($2 = '' OR corp_num = $2)`, model.System, corp)
		if err != nil {
			return fmt.Errorf("requeue queue rows (corp %q): %w", corp, err)
		}
		queue = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `
			UPDATE credential_log SET process_date = NULL, process_success = NULL, process_msg = NULL,
			       rp_sent_at = NULL, rp_batch = NULL
			WHERE system_type_cd = $1 AND process_success = 'N' AND ($2 = '' OR corp_num = $2)`, model.System, corp)
		if err != nil {
			return fmt.Errorf("requeue failed credentials (corp %q): %w", corp, err)
		}
		creds = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return queue, creds, nil
}
