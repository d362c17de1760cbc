package testdata

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
)

// table collects rows of one source table in COPY text format until the
// next flush.
type table struct {
	name string
	cols []string
	buf  bytes.Buffer
	rows int // rows in buf
	sum  int // rows written in all
	cell int // cells written on the current row
}

func newTable(name string, cols ...string) *table { return &table{name: name, cols: cols} }

// sep writes the separator before a cell.
func (t *table) sep() {
	if t.cell > 0 {
		t.buf.WriteByte('\t')
	}
	t.cell++
}

func (t *table) null() *table { t.sep(); t.buf.WriteString(`\N`); return t }

// str writes s escaped for COPY text format.
func (t *table) str(s string) *table {
	t.sep()
	if !strings.ContainsAny(s, "\\\t\n\r") {
		t.buf.WriteString(s)
		return t
	}
	for _, c := range []byte(s) {
		switch c {
		case '\\':
			t.buf.WriteString(`\\`)
		case '\t':
			t.buf.WriteString(`\t`)
		case '\n':
			t.buf.WriteString(`\n`)
		case '\r':
			t.buf.WriteString(`\r`)
		default:
			t.buf.WriteByte(c)
		}
	}
	return t
}

func (t *table) strp(s *string) *table {
	if s == nil {
		return t.null()
	}
	return t.str(*s)
}

// opt writes s, or NULL when it is empty.
func (t *table) opt(s string) *table {
	if s == "" {
		return t.null()
	}
	return t.str(s)
}

func (t *table) int(v int64) *table {
	t.sep()
	t.buf.WriteString(strconv.FormatInt(v, 10))
	return t
}

func (t *table) intp(v *int64) *table {
	if v == nil {
		return t.null()
	}
	return t.int(*v)
}

// ts writes a naive timestamp. Year 1 and year 9999 are valid PostgreSQL
// timestamps and are written as they are: they are the out-of-range dates
// the processor must clamp.
func (t *table) ts(v time.Time) *table {
	t.sep()
	t.buf.WriteString(fmtTS(v))
	return t
}

func (t *table) tsp(v *time.Time) *table {
	if v == nil {
		return t.null()
	}
	return t.ts(*v)
}

func fmtTS(v time.Time) string { return v.Format("2006-01-02 15:04:05") }

// end finishes the row; it checks the cell count so a row that lost a
// column fails here, not as a confusing COPY error.
func (t *table) end() {
	if t.cell != len(t.cols) {
		panic(fmt.Sprintf("testdata: %s row has %d cells, want %d", t.name, t.cell, len(t.cols)))
	}
	t.buf.WriteByte('\n')
	t.cell = 0
	t.rows++
	t.sum++
}

// tables is every table the generator writes, in the order they are
// copied.
type tables struct {
	corporation, event, filing, conv, name, state, juris, office, address, party *table
}

func newTables() *tables {
	return &tables{
		corporation: newTable("corporation", "corp_num", "corp_typ_cd", "recognition_dts", "last_ar_filed_dt", "bn_9", "bn_15", "admin_email", "last_ledger_dt"),
		event:       newTable("event", "event_id", "corp_num", "event_typ_cd", "event_timestmp", "trigger_dts"),
		filing:      newTable("filing", "event_id", "filing_typ_cd", "effective_dt", "change_dt", "registration_dt", "period_end_dt", "withdrawn_event_id", "nr_num", "new_corp_num"),
		conv:        newTable("conv_event", "event_id", "effective_dt", "report_corp_ind", "prev_bc_ind", "activity_user_id", "activity_dt", "activity_tm", "annual_file_dt", "accession_num", "remarks"),
		name:        newTable("corp_name", "corp_num", "corp_name_typ_cd", "start_event_id", "end_event_id", "corp_name_seq_num", "srch_nme", "corp_nme", "dd_corp_num"),
		state:       newTable("corp_state", "corp_num", "start_event_id", "end_event_id", "state_typ_cd", "dd_corp_num"),
		juris:       newTable("jurisdiction", "corp_num", "start_event_id", "end_event_id", "can_jur_typ_cd", "xpro_typ_cd", "home_recogn_dt", "othr_juris_desc", "home_juris_num", "bc_xpro_num", "home_company_nme"),
		office:      newTable("office", "corp_num", "office_typ_cd", "start_event_id", "end_event_id", "mailing_addr_id", "delivery_addr_id", "dd_corp_num", "email_address"),
		address:     newTable("address", "addr_id", "province", "country_typ_cd", "postal_cd", "addr_line_1", "addr_line_2", "addr_line_3", "city", "address_format_type", "address_desc", "address_desc_short", "delivery_instructions", "unit_no", "unit_type", "civic_no", "civic_no_suffix", "street_name", "street_type", "street_direction", "lock_box_no", "installation_type", "installation_name", "installation_qualifier", "route_service_type", "route_service_no", "province_state_name"),
		party:       newTable("corp_party", "corp_party_id", "mailing_addr_id", "delivery_addr_id", "corp_num", "party_typ_cd", "start_event_id", "end_event_id", "prev_party_id", "corr_typ_cd", "last_report_dt", "appointment_dt", "cessation_dt", "last_nme", "middle_nme", "first_nme", "business_nme", "bus_company_num", "email_address", "corp_party_seq_num", "office_notification_dt", "phone", "reason_typ_cd"),
	}
}

func (ts *tables) all() []*table {
	return []*table{ts.corporation, ts.event, ts.filing, ts.conv, ts.name, ts.state, ts.juris, ts.office, ts.address, ts.party}
}

// flushTimeout bounds one flush: a few thousand corps' rows, far under a
// second on a healthy server.
const flushTimeout = 2 * time.Minute

// flush copies every table's buffered rows in one transaction, so an
// interrupted generate leaves whole chunks only; also, if set, runs in the
// same transaction after the copies.
func (ts *tables) flush(ctx context.Context, pool *pgxpool.Pool, also func(context.Context, pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection for copy: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin copy: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after commit it is a no-op
	for _, t := range ts.all() {
		if t.rows == 0 {
			continue
		}
		n, err := pg.CopyFrom(ctx, conn.Conn().PgConn(), "bc_registries."+t.name, t.cols, "", &t.buf)
		if err != nil {
			return err
		}
		if int(n) != t.rows {
			return fmt.Errorf("copy into bc_registries.%s: %d rows copied, %d sent", t.name, n, t.rows)
		}
		t.buf.Reset()
		t.rows = 0
	}
	if also != nil {
		if err := also(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit copy: %w", err)
	}
	return nil
}

func (ts *tables) summary() Summary {
	return Summary{
		Corps: ts.corporation.sum, Events: ts.event.sum, Names: ts.name.sum, States: ts.state.sum,
		Offices: ts.office.sum, Addresses: ts.address.sum, Parties: ts.party.sum,
	}
}
