package colin

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/services/registry-processor/internal/model"
)

// The row queries of Load, sent together in one round trip. Left joins
// everywhere: an unknown code (no corp_type, corp_op_state row) or a
// broken link (an office's address id with no address row) loads as
// empty fields, never drops the row; what to do with it is the
// credential stage's rule. The ORDER BYs only make each corp's slices
// deterministic (rows reach their corp in query order, so a corp's rows
// keep it); they avoid sorting on corp_num, whose locale collation costs
// more than the rest of the query. The credential stage sorts by
// effective dates itself.
const (
	qCorps = `
SELECT c.corp_num, c.corp_typ_cd, t.corp_class, c.recognition_dts, c.last_ar_filed_dt, c.bn_9, c.bn_15,
       c.admin_email, c.last_ledger_dt, t.colin_ind, t.short_desc, t.full_desc
  FROM bc_registries.corporation c
  LEFT JOIN bc_registries.corp_type t ON t.corp_typ_cd = c.corp_typ_cd
 WHERE c.corp_num = ANY($1)`
	qNames = `
SELECT corp_num, corp_name_typ_cd, corp_name_seq_num, start_event_id, end_event_id, corp_nme, srch_nme, dd_corp_num
  FROM bc_registries.corp_name
 WHERE corp_num = ANY($1) AND corp_name_typ_cd IN ('CO', 'NB', 'AS')
 ORDER BY corp_name_seq_num`
	qStates = `
SELECT s.corp_num, s.start_event_id, s.end_event_id, s.state_typ_cd, o.op_state_typ_cd
  FROM bc_registries.corp_state s
  LEFT JOIN bc_registries.corp_op_state o ON o.state_typ_cd = s.state_typ_cd
 WHERE s.corp_num = ANY($1)
 ORDER BY s.start_event_id`
	qJurisdictions = `
SELECT corp_num, start_event_id, end_event_id, can_jur_typ_cd, othr_juris_desc, home_recogn_dt, home_juris_num, home_company_nme
  FROM bc_registries.jurisdiction
 WHERE corp_num = ANY($1)
 ORDER BY start_event_id`
	// The original reads only these three office types.
	qOffices = `
SELECT o.corp_num, o.office_typ_cd, o.start_event_id, o.end_event_id, o.mailing_addr_id, o.delivery_addr_id,
       m.addr_id, m.province, m.country_typ_cd, m.postal_cd, m.addr_line_1, m.addr_line_2, m.addr_line_3, m.city, m.address_desc,
       d.addr_id, d.province, d.country_typ_cd, d.postal_cd, d.addr_line_1, d.addr_line_2, d.addr_line_3, d.city, d.address_desc
  FROM bc_registries.office o
  LEFT JOIN bc_registries.address m ON m.addr_id = o.mailing_addr_id
  LEFT JOIN bc_registries.address d ON d.addr_id = o.delivery_addr_id
 WHERE o.corp_num = ANY($1) AND o.office_typ_cd IN ('RG', 'HD', 'FO')
 ORDER BY o.start_event_id, o.office_typ_cd COLLATE "C"`
	// FBO rows in either direction: the corp is the firm (corp_num) or
	// its owner (bus_company_num); with the firm's corporation row, which
	// the relationship credential reads (Party.Other).
	qParties = `
SELECT p.corp_party_id, p.corp_num, p.bus_company_num, p.party_typ_cd, p.start_event_id, p.end_event_id, p.business_nme, p.appointment_dt, p.cessation_dt,
       f.corp_num, f.corp_typ_cd, f.recognition_dts
  FROM bc_registries.corp_party p
  LEFT JOIN bc_registries.corporation f ON f.corp_num = p.corp_num
 WHERE p.party_typ_cd = 'FBO' AND (p.corp_num = ANY($1) OR p.bus_company_num = ANY($1))
 ORDER BY p.corp_party_id`
	// Every event the rows name (by id) and the corps' own events, with
	// the filing of FILE events and the conv_event of CONV* events, the
	// only cases in which the original looks them up.
	// The original joined event_type (an unknown type made the event
	// vanish and the corp fail) and filing_type: t and ft say whether the
	// codes are known.
	qEvents = `
WITH ids AS (
    SELECT unnest($1::integer[]) AS event_id
    UNION
    SELECT event_id FROM bc_registries.event WHERE corp_num = ANY($2)
)
SELECT e.event_id, e.corp_num, e.event_typ_cd, e.event_timestmp, e.trigger_dts,
       f.filing_typ_cd, f.effective_dt, c.effective_dt, t.event_typ_cd IS NOT NULL, f.event_id IS NOT NULL
  FROM ids
  JOIN bc_registries.event e ON e.event_id = ids.event_id
  LEFT JOIN bc_registries.event_type t ON t.event_typ_cd = e.event_typ_cd
  LEFT JOIN bc_registries.filing f ON f.event_id = e.event_id AND e.event_typ_cd = 'FILE'
  LEFT JOIN bc_registries.conv_event c ON c.event_id = e.event_id AND e.event_typ_cd LIKE 'CONV%'`
)

// Load reads the whole history of each corp in corpNums: two round trips
// (six row queries in one batch, then the events they name), whatever the
// number of corps. A corp number with no corporation row is absent from
// the result. Each corp gets its own copy of every event it refers to,
// with Effective resolved for its corp type, because the firm
// trigger_dts rule depends on the type of the corp being loaded (an FBO
// row's events belong to the firm but are also read for its owner).
func (s *Source) Load(ctx context.Context, corpNums []string) (map[string]*model.Corp, error) {
	out := make(map[string]*model.Corp, len(corpNums))
	if len(corpNums) == 0 {
		return out, nil
	}
	if err := s.loadRows(ctx, corpNums, out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := s.loadEvents(ctx, corpNums, out); err != nil {
		return nil, err
	}
	return out, nil
}

// batchName names a batch in errors: its size and first corp, enough to
// find it in the queue.
func batchName(corpNums []string) string {
	return fmt.Sprintf("%d corps from %s", len(corpNums), corpNums[0])
}

func (s *Source) loadRows(ctx context.Context, corpNums []string, out map[string]*model.Corp) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b := &pgx.Batch{}
	for _, q := range []string{qCorps, qNames, qStates, qJurisdictions, qOffices, qParties} {
		b.Queue(q, corpNums)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	what := batchName(corpNums)

	// corporation first: the other rows attach to corps that exist.
	if err := each(br, func(r pgx.Rows) error {
		c := &model.Corp{}
		var class, typ *string
		if err := r.Scan(&c.Num, &typ, &class, &c.RecognitionDts, &c.LastARFiled, &c.BN9, &c.BN15,
			&c.AdminEmail, &c.LastLedgerDt, &c.TypeColinInd, &c.TypeShortDesc, &c.TypeFullDesc); err != nil {
			return err
		}
		c.TypeCd = need(c, typ, "corporation.corp_typ_cd", "corp_num "+c.Num)
		if class != nil {
			c.Class = *class
		}
		c.Events = map[int64]*model.Event{}
		out[c.Num] = c
		return nil
	}); err != nil {
		return fmt.Errorf("load corporation rows of %s: %w", what, err)
	}

	if err := each(br, func(r pgx.Rows) error {
		var corp string
		var n model.Name
		var seq, start *int64
		if err := r.Scan(&corp, &n.TypeCd, &seq, &start, &n.End, &n.Name, &n.Srch, &n.DDCorp); err != nil {
			return err
		}
		if c := out[corp]; c != nil {
			n.Seq = int(needInt(c, seq, "corp_name.corp_name_seq_num", "corp_name_typ_cd "+n.TypeCd))
			n.Start = needInt(c, start, "corp_name.start_event_id", fmt.Sprintf("corp_name_seq_num %d", n.Seq))
			c.Names = append(c.Names, n)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load corp_name rows of %s: %w", what, err)
	}

	if err := each(br, func(r pgx.Rows) error {
		var corp string
		var st model.State
		var op, typ *string
		var start *int64
		if err := r.Scan(&corp, &start, &st.End, &typ, &op); err != nil {
			return err
		}
		if op != nil {
			st.OpState = *op
		}
		if c := out[corp]; c != nil {
			st.Start = needInt(c, start, "corp_state.start_event_id", "")
			st.StateTypCd = need(c, typ, "corp_state.state_typ_cd", fmt.Sprintf("start_event_id %d", st.Start))
			c.States = append(c.States, st)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load corp_state rows of %s: %w", what, err)
	}

	if err := each(br, func(r pgx.Rows) error {
		var corp string
		var j model.Jurisdiction
		var start *int64
		var typ *string
		if err := r.Scan(&corp, &start, &j.End, &typ, &j.OthrJurisDesc, &j.HomeRecognDt, &j.HomeJurisNum, &j.HomeCompanyNme); err != nil {
			return err
		}
		if c := out[corp]; c != nil {
			j.Start = needInt(c, start, "jurisdiction.start_event_id", "")
			j.CanJurTypCd = need(c, typ, "jurisdiction.can_jur_typ_cd", fmt.Sprintf("start_event_id %d", j.Start))
			c.Jurisdictions = append(c.Jurisdictions, j)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load jurisdiction rows of %s: %w", what, err)
	}

	if err := each(br, func(r pgx.Rows) error {
		var corp string
		var o model.Office
		var m, d model.Address
		var mID, dID, start *int64
		if err := r.Scan(&corp, &o.TypeCd, &start, &o.End, &o.MailingAddrID, &o.DeliveryAddrID,
			&mID, &m.Province, &m.CountryTypCd, &m.PostalCd, &m.Line1, &m.Line2, &m.Line3, &m.City, &m.AddressDesc,
			&dID, &d.Province, &d.CountryTypCd, &d.PostalCd, &d.Line1, &d.Line2, &d.Line3, &d.City, &d.AddressDesc); err != nil {
			return err
		}
		// The joined addr_id is null exactly when the link is null or
		// broken: the office keeps its id, the address stays nil.
		if mID != nil {
			m.ID = *mID
			o.Mailing = &m
		}
		if dID != nil {
			d.ID = *dID
			o.Delivery = &d
		}
		if c := out[corp]; c != nil {
			o.Start = needInt(c, start, "office.start_event_id", "office_typ_cd "+o.TypeCd)
			c.Offices = append(c.Offices, o)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load office rows of %s: %w", what, err)
	}

	if err := each(br, func(r pgx.Rows) error {
		var p model.Party
		var firmNum, firmType, num *string
		var firmRecognised *time.Time
		var start *int64
		if err := r.Scan(&p.ID, &num, &p.BusCompanyNum, &p.PartyTypCd, &start, &p.End, &p.BusinessNme, &p.AppointmentDt, &p.CessationDt,
			&firmNum, &firmType, &firmRecognised); err != nil {
			return err
		}
		if firmNum != nil {
			p.Other = &model.CorpRef{Num: *firmNum, TypeCd: deref(firmType), RecognitionDts: firmRecognised}
		}
		// A row links two corps; each loaded side gets it once (a firm
		// owning itself would otherwise get it twice), and each learns of
		// its columns that cannot be used.
		where := fmt.Sprintf("corp_party_id %d", p.ID)
		for i, side := range []*string{num, p.BusCompanyNum} {
			if side == nil || (i == 1 && num != nil && *side == *num) {
				continue
			}
			if c := out[*side]; c != nil {
				q := p
				q.CorpNum = need(c, num, "corp_party.corp_num", where)
				q.Start = needInt(c, start, "corp_party.start_event_id", where)
				c.Parties = append(c.Parties, q)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load corp_party rows of %s: %w", what, err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("load rows of %s: %w", what, err)
	}
	return nil
}

// each reads the next result of a batch row by row.
func each(br pgx.BatchResults, fn func(pgx.Rows) error) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// refs lists the event ids a corp's rows start or end with.
func refs(c *model.Corp, add func(int64)) {
	opt := func(p *int64) {
		if p != nil {
			add(*p)
		}
	}
	for i := range c.Names {
		add(c.Names[i].Start)
		opt(c.Names[i].End)
	}
	for i := range c.States {
		add(c.States[i].Start)
		opt(c.States[i].End)
	}
	for i := range c.Jurisdictions {
		add(c.Jurisdictions[i].Start)
		opt(c.Jurisdictions[i].End)
	}
	for i := range c.Offices {
		add(c.Offices[i].Start)
		opt(c.Offices[i].End)
	}
	for i := range c.Parties {
		add(c.Parties[i].Start)
		opt(c.Parties[i].End)
	}
}

func (s *Source) loadEvents(ctx context.Context, corpNums []string, out map[string]*model.Corp) error {
	seen := make(map[int64]struct{}, 16*len(out))
	ids := make([]int64, 0, 16*len(out))
	for _, c := range out {
		refs(c, func(id int64) {
			if _, ok := seen[id]; !ok {
				seen[id] = struct{}{}
				ids = append(ids, id)
			}
		})
	}
	nums := make([]string, 0, len(out))
	for n := range out {
		nums = append(nums, n)
	}

	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, qEvents, ids, nums)
	if err != nil {
		return fmt.Errorf("load events of %s: %w", batchName(corpNums), err)
	}
	events := make(map[int64]*model.Event, len(ids))
	own := make(map[string][]*model.Event, len(out))
	for rows.Next() {
		e := &model.Event{}
		var filingTyp, corp, typ *string
		var ts *time.Time
		var knownType, hasFiling bool
		if err := rows.Scan(&e.ID, &corp, &typ, &ts, &e.Trigger, &filingTyp, &e.FilingEffective, &e.ConvEffective, &knownType, &hasFiling); err != nil {
			rows.Close()
			return fmt.Errorf("load events of %s: %w", batchName(corpNums), err)
		}
		e.Problem = eventProblem(e.ID, corp, typ, ts, knownType, hasFiling, filingTyp)
		e.Corp, e.TypeCd = deref(corp), deref(typ)
		if ts != nil {
			e.Timestamp = *ts
		}
		if filingTyp != nil {
			e.FilingTypeCd = *filingTyp
		}
		events[e.ID] = e
		if out[e.Corp] != nil {
			own[e.Corp] = append(own[e.Corp], e)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load events of %s: %w", batchName(corpNums), err)
	}

	for num, c := range out {
		put := func(src *model.Event) {
			if _, ok := c.Events[src.ID]; ok {
				return
			}
			e := *src
			resolve(&e, c.TypeCd)
			c.Events[e.ID] = &e
		}
		for _, e := range own[num] {
			put(e)
		}
		refs(c, func(id int64) {
			if e := events[id]; e != nil {
				put(e)
			} else if id == 0 {
				// Event 0 stands for "before the event log" and has no
				// row; it is given so every row's start resolves.
				put(&model.Event{ID: 0})
			}
			// Any other id without an event row is a broken link, left
			// absent for the credential stage to report.
		})
	}
	return nil
}

// eventProblem names what makes an event unusable, or "".
func eventProblem(id int64, corp, typ *string, ts *time.Time, knownType, hasFiling bool, filingTyp *string) string {
	switch {
	case corp == nil:
		return fmt.Sprintf("event.corp_num is NULL (event_id %d)", id)
	case typ == nil:
		return fmt.Sprintf("event.event_typ_cd is NULL (event_id %d)", id)
	case ts == nil:
		return fmt.Sprintf("event.event_timestmp is NULL (event_id %d)", id)
	case !knownType:
		return fmt.Sprintf("event.event_typ_cd %q is not in event_type (event_id %d)", *typ, id)
	case hasFiling && filingTyp == nil:
		return fmt.Sprintf("filing.filing_typ_cd is NULL (event_id %d)", id)
	}
	return ""
}

// need is a column that must have a value: NULL becomes a problem of the
// corp ("table.column is NULL (where)") and "".
func need(c *model.Corp, v *string, column, where string) string {
	if v == nil {
		c.Problems = append(c.Problems, nullMsg(column, where, c.Num))
		return ""
	}
	return *v
}

// needInt is need for an integer column.
func needInt(c *model.Corp, v *int64, column, where string) int64 {
	if v == nil {
		c.Problems = append(c.Problems, nullMsg(column, where, c.Num))
		return 0
	}
	return *v
}

func nullMsg(column, where, corp string) string {
	if where == "" {
		return fmt.Sprintf("%s is NULL (corp_num %s)", column, corp)
	}
	return fmt.Sprintf("%s is NULL (corp_num %s, %s)", column, corp, where)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
