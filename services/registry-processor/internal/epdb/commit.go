package epdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/services/registry-processor/internal/model"
)

// Cred is one generated credential for credential_log.
type Cred struct {
	TypeCd  string // REG, ADDR, REL, BNC
	ID      string // credential_id
	Schema  string
	Version string
	JSON    string // credential_json: exactly the hashed text
	Hash    string // lowercase hex SHA-256 of JSON
	Reason  string // credential_reason, not part of the hash
	// CorpState is the corp's current op state (ACT, HIS, N/A); empty
	// takes the outcome's.
	CorpState string
	// Held credentials (ADDR) are stored processed with 'A' and never
	// posted.
	Held bool
}

// Outcome is what processing one queue row came to.
type Outcome struct {
	Row     QueueRow
	Success string // 'Y', 'N' or 'S'
	Msg     string // the queue row's process_msg (cut as the original)
	// CorpState and CorpJSON make the corp_history_log row; none is
	// written when CorpJSON is nil.
	CorpState  string
	CorpJSON   []byte
	HistoryMsg string // the history row's process_msg, e.g. "Withdrawn"
	Creds      []Cred
	// Requeue, when set, queues the corp again for its future-dated
	// events.
	Requeue *Requeue
}

// Requeue is the window of a new queue row for future-dated events, and
// when it is due: the first of them (naive Pacific).
type Requeue struct {
	Prev, Last Mark
	Release    time.Time
}

// Commit writes a batch of outcomes in one transaction — history rows,
// credentials, the queue rows' results and requeues — so a crash leaves
// all of the batch or none of it, and a retried batch finds its queue rows
// still pending. A credential whose hash is already in credential_log is
// skipped, as the original does. It returns how many credentials were
// inserted.
func (d *DB) Commit(ctx context.Context, outcomes []Outcome) (int, error) {
	if len(outcomes) == 0 {
		return 0, nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	var h histCols
	var c credCols
	var q queueCols
	var r requeueCols
	for _, o := range outcomes {
		switch o.Success {
		case "Y", "N", "S":
		default:
			return 0, fmt.Errorf("commit outcomes: corp %s (queue row %d): process_success %q is not Y, N or S", o.Row.Corp, o.Row.RecordID, o.Success)
		}
		prev, last := EventJSON(o.Row.Prev, d.dates), EventJSON(o.Row.Last, d.dates)
		state := o.CorpState
		if state == "" {
			state = "N/A"
		}
		var msg *string
		if o.Msg != "" {
			m := CutMsg(o.Msg)
			msg = &m
		}
		q.add(o.Row.RecordID, o.Success, msg)
		if o.CorpJSON != nil {
			hmsg := msg
			if o.Success == "Y" {
				hmsg = nil
				if o.HistoryMsg != "" {
					m := CutMsg(o.HistoryMsg)
					hmsg = &m
				}
			}
			h.add(o.Row.Corp, state, prev, last, string(o.CorpJSON), o.Success, hmsg)
		}
		for _, cr := range o.Creds {
			cs := cr.CorpState
			if cs == "" {
				cs = state
			}
			c.add(o.Row.Corp, cs, prev, last, cr)
		}
		if o.Requeue != nil {
			r.add(o.Row.Corp, *o.Requeue)
		}
	}
	inserted := 0
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		// The queue rows are found by their keys, one index probe each,
		// however long the queue: never a scan of it per batch.
		if _, err := tx.Exec(ctx, `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off`); err != nil {
			return fmt.Errorf("commit outcomes: %w", err)
		}
		if len(h.corp) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO corp_history_log (system_type_cd, corp_num, corp_state, prev_event, last_event, corp_json,
				                              entry_date, process_date, process_success, process_msg)
				SELECT $1, u.corp, u.state, u.prev::json, u.last::json, u.body::json, `+nowLocal+`, `+nowLocal+`, u.ok, u.msg
				FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
				     WITH ORDINALITY AS u(corp, state, prev, last, body, ok, msg, ord)
				ORDER BY u.ord`, model.System, h.corp, h.state, h.prev, h.last, h.body, h.ok, h.msg); err != nil {
				return fmt.Errorf("write %d corp_history_log rows (corps %s…): %w", len(h.corp), h.corp[0], err)
			}
		}
		if len(c.corp) > 0 {
			// ORDER BY ord keeps record_id in generation order, which is
			// the posting order. DO NOTHING also skips a duplicate within
			// the batch itself.
			tag, err := tx.Exec(ctx, `
				INSERT INTO credential_log (system_type_cd, corp_num, corp_state, prev_event, last_event, credential_type_cd,
				                            credential_id, schema_name, schema_version, credential_json, credential_hash,
				                            credential_reason, entry_date, process_date, process_success)
				SELECT $1, u.corp, u.state, u.prev::json, u.last::json, u.typ, u.id, u.schema, u.version, u.body::json, u.hash,
				       u.reason, `+nowLocal+`,
				       CASE WHEN u.held THEN `+nowLocal+` END, CASE WHEN u.held THEN 'A' END
				FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
				            $10::text[], $11::text[], $12::text[], $13::bool[])
				     WITH ORDINALITY AS u(corp, state, prev, last, typ, id, schema, version, body, hash, reason, held, ord)
				ORDER BY u.ord
				ON CONFLICT (credential_hash) DO NOTHING`,
				model.System, c.corp, c.state, c.prev, c.last, c.typ, c.id, c.schema, c.version, c.body, c.hash, c.reason, c.held)
			if err != nil {
				return fmt.Errorf("write %d credential_log rows (corps %s…): %w", len(c.corp), c.corp[0], err)
			}
			inserted = int(tag.RowsAffected())
		}
		tag, err := tx.Exec(ctx, `
			UPDATE event_by_corp_filing e SET process_date = `+nowLocal+`, process_success = u.ok, process_msg = u.msg
			FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, ok, msg)
			WHERE e.record_id = u.id AND e.process_date IS NULL`, q.id, q.ok, q.msg)
		if err != nil {
			return fmt.Errorf("mark %d queue rows processed (first %d): %w", len(q.id), q.id[0], err)
		}
		if int(tag.RowsAffected()) != len(q.id) {
			// Another processor finished some of these rows first: this
			// batch's credentials would duplicate its work, so none of it
			// is kept.
			return fmt.Errorf("mark %d queue rows processed (first %d): only %d were still pending", len(q.id), q.id[0], tag.RowsAffected())
		}
		if len(r.corp) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO event_by_corp_filing (system_type_cd, corp_num, prev_event_id, prev_event_date,
				                                  last_event_id, last_event_date, entry_date, rp_release_date)
				SELECT $1, u.corp, u.pid, u.pdate, u.lid, u.ldate, `+nowLocal+`, u.release
				FROM unnest($2::text[], $3::bigint[], $4::timestamp[], $5::bigint[], $6::timestamp[], $7::timestamp[])
				     WITH ORDINALITY AS u(corp, pid, pdate, lid, ldate, release, ord)
				ORDER BY u.ord`, model.System, r.corp, r.pid, r.pdate, r.lid, r.ldate, r.release); err != nil {
				return fmt.Errorf("requeue %d corps for future events (corps %s…): %w", len(r.corp), r.corp[0], err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return inserted, nil
}

type histCols struct {
	corp, state, prev, last, body, ok []string
	msg                               []*string
}

func (h *histCols) add(corp, state, prev, last, body, ok string, msg *string) {
	h.corp, h.state, h.prev, h.last = append(h.corp, corp), append(h.state, state), append(h.prev, prev), append(h.last, last)
	h.body, h.ok, h.msg = append(h.body, body), append(h.ok, ok), append(h.msg, msg)
}

type credCols struct {
	corp, state, prev, last, typ, id, schema, version, body, hash, reason []string
	held                                                                  []bool
}

func (c *credCols) add(corp, state, prev, last string, cr Cred) {
	c.corp, c.state, c.prev, c.last = append(c.corp, corp), append(c.state, state), append(c.prev, prev), append(c.last, last)
	c.typ, c.id, c.schema, c.version = append(c.typ, cr.TypeCd), append(c.id, cr.ID), append(c.schema, cr.Schema), append(c.version, cr.Version)
	c.body, c.hash, c.reason, c.held = append(c.body, cr.JSON), append(c.hash, cr.Hash), append(c.reason, CutReason(cr.Reason)), append(c.held, cr.Held)
}

type queueCols struct {
	id  []int64
	ok  []string
	msg []*string
}

func (q *queueCols) add(id int64, ok string, msg *string) {
	q.id, q.ok, q.msg = append(q.id, id), append(q.ok, ok), append(q.msg, msg)
}

type requeueCols struct {
	corp                  []string
	pid, lid              []int64
	pdate, ldate, release []time.Time
}

func (r *requeueCols) add(corp string, w Requeue) {
	r.corp = append(r.corp, corp)
	r.release = append(r.release, w.Release)
	r.pid, r.pdate = append(r.pid, w.Prev.EventID), append(r.pdate, w.Prev.EventDate)
	r.lid, r.ldate = append(r.lid, w.Last.EventID), append(r.ldate, w.Last.EventDate)
}

// CutReason is credential_reason's limit: the original keeps the first
// 255 characters.
func CutReason(s string) string {
	r := []rune(s)
	if len(r) <= 255 {
		return s
	}
	return string(r[:255])
}
