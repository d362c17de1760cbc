package colin

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/testkit/svc"
	colinddl "tributary.dev/services/registry-processor/colin"
	"tributary.dev/services/registry-processor/internal/model"
)

// source returns a Source over a fresh database with the COLIN DDL and
// the given SQL applied.
func source(t testing.TB, sql ...string) (*Source, *pgxpool.Pool) {
	t.Helper()
	env := svc.New(t, svc.Options{Postgres: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range append([]string{colinddl.Schema}, sql...) {
		if _, err := env.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("apply %.60q: %v", q, err)
		}
	}
	return New(env.Pool, 10*time.Second), env.Pool
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMaxEventBefore(t *testing.T) {
	s, _ := source(t, `
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd) VALUES ('0000001', 'SP');
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp, trigger_dts) VALUES
 (10, '0000001', 'ADMIN', '2024-01-01 09:00:00', NULL),
 (12, '0000001', 'FILE',  '2024-06-01 12:00:00', '2024-05-01 00:00:00'),
 (11, '0000001', 'FILE',  '2024-06-01 12:00:00', NULL),
 (13, '0000001', 'ADMIN', '2024-06-01 11:59:59', NULL),
 (99, '0000001', 'FILE',  '2030-01-01 00:00:00', NULL);
INSERT INTO bc_registries.filing (event_id, filing_typ_cd, effective_dt) VALUES
 (12, 'ANNBC', '2024-05-15 08:00:00'), (99, 'ANNBC', '2029-01-01 00:00:00');`)
	ctx := tctx(t)
	// "now" between the tied pair and the future event: the tie on
	// 2024-06-01 12:00 goes to the larger id, 12; its effective date is
	// the filing's (no firm rule for the mark, as the original), not the
	// trigger_dts.
	id, ts, eff, err := s.MaxEventBefore(ctx, at("2025-01-01 00:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	if id != 12 || !ts.Equal(at("2024-06-01 12:00:00")) || !eff.Equal(at("2024-05-15 08:00:00")) {
		t.Errorf("MaxEventBefore = %d %s %s, want 12 2024-06-01 12:00:00 2024-05-15 08:00:00", id, ts, eff)
	}
	// "At or before": now equal to the timestamp includes it.
	id, _, _, err = s.MaxEventBefore(ctx, at("2024-06-01 12:00:00"))
	if err != nil || id != 12 {
		t.Errorf("at the timestamp: %d, %v; want 12", id, err)
	}
	id, ts, eff, err = s.MaxEventBefore(ctx, at("2024-06-01 11:59:59"))
	if err != nil || id != 13 || !eff.Equal(ts) {
		t.Errorf("a second earlier: %d %s %s %v; want 13 with effective = timestamp", id, ts, eff, err)
	}
	id, _, _, err = s.MaxEventBefore(ctx, at("2000-01-01 00:00:00"))
	if err != nil || id != 0 {
		t.Errorf("before every event: %d, %v; want 0", id, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestCorpsSince(t *testing.T) {
	s, _ := source(t, `
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp) VALUES
 (1, 'OLD0001', 'FILE', '2020-01-01 00:00:00'),
 -- source 1: the event's own corp, at the mark (inclusive)
 (2, 'EVT0001', 'ADMIN', '2024-01-01 00:00:00'),
 (3, 'EVT0001', 'FILE',  '2024-02-01 00:00:00'),
 -- an event of a blank corp: skipped, but its corp_state corp counts
 (4, '  ',      'FILE',  '2024-03-01 00:00:00'),
 (5, '',        'FILE',  '2024-03-02 00:00:00'),
 -- long after: a candidate all the same (no upper bound)
 (6, 'LATE001', 'FILE',  '2024-12-01 00:00:00');
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, end_event_id, state_typ_cd) VALUES
 -- source 2: another corp's state starts or ends with a window event
 ('STA0001', 4, NULL, 'ACT'),
 ('STA0002', 1, 5, 'ACT'),
 ('STA0003', 1, NULL, 'ACT');
INSERT INTO bc_registries.corp_party (corp_party_id, corp_num, party_typ_cd, start_event_id, bus_company_num) VALUES
 -- source 3: FBO either way, one step from an event corp
 (1, 'FM00001', 'FBO', 1, 'EVT0001'),
 (2, 'EVT0001', 'FBO', 1, 'OWN0001'),
 (3, 'FM00002', 'DIR', 1, 'EVT0001'),
 (4, 'FM00003', 'FBO', 1, 'FM00001'),
 (5, 'EVT0001', 'FBO', 1, NULL),
 (6, 'FM00004', 'FBO', 1, 'STA0001');`)
	ctx := tctx(t)
	// As the original: events at or after the mark's date, with no upper
	// bound (LATE001's event of December counts).
	got, err := s.CorpsSince(ctx, at("2024-01-01 00:00:00"), 2)
	if err != nil {
		t.Fatal(err)
	}
	// FM00003 is two steps away (via FM00001) and not picked; DIR rows
	// don't count; OLD0001/STA0003 only have events before the mark.
	want := []string{"EVT0001", "FM00001", "FM00004", "LATE001", "OWN0001", "STA0001", "STA0002"}
	if !slices.Equal(got.Corps, want) {
		t.Errorf("CorpsSince = %v, want %v", got.Corps, want)
	}
	// Events past the mark (event 2 at its date): 3, 4, 5 and 6.
	if got.Events != 4 || len(got.Invalid) != 0 {
		t.Errorf("events %d, invalid %v; want 4 and none", got.Events, got.Invalid)
	}
	got, err = s.CorpsSince(ctx, at("2024-01-01 00:00:00"), 1)
	if err != nil || got.Events != 5 {
		t.Errorf("from event 1 at the same date: %d events, %v; want 5", got.Events, err)
	}
}

// An event whose corp_num is NULL (a copy without the constraint) queues
// nothing and is named; the rest of the window is found as usual.
func TestCorpsSinceNullCorp(t *testing.T) {
	s, _ := source(t, `
ALTER TABLE bc_registries.event ALTER COLUMN corp_num DROP NOT NULL;
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp) VALUES
 (7, NULL, 'FILE', '2024-01-02 00:00:00'), (8, 'A000001', 'FILE', '2024-01-03 00:00:00');
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, state_typ_cd) VALUES ('S000001', 7, 'ACT');`)
	got, err := s.CorpsSince(tctx(t), at("2024-01-01 00:00:00"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Corps, []string{"A000001", "S000001"}) || got.Events != 2 ||
		!slices.Equal(got.Invalid, []string{"event.corp_num is NULL (event_id 7): the event names no corp"}) {
		t.Errorf("got %+v", got)
	}
}

// Each source alone, on its own data.
func TestCorpsSinceEachSource(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"event corp", `INSERT INTO bc_registries.event VALUES (7, 'A000001', 'CONVL', '2024-01-01 00:00:00', NULL);`, []string{"A000001"}},
		{"corp_state start", `INSERT INTO bc_registries.event VALUES (7, '', 'FILE', '2024-01-01 00:00:00', NULL);
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, state_typ_cd) VALUES ('S000001', 7, 'ACT');`, []string{"S000001"}},
		{"corp_state end", `INSERT INTO bc_registries.event VALUES (7, '', 'FILE', '2024-01-01 00:00:00', NULL);
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, end_event_id, state_typ_cd) VALUES ('S000002', 1, 7, 'HIS');`, []string{"S000002"}},
		{"FBO owner of an event firm", `INSERT INTO bc_registries.event VALUES (7, 'FM00001', 'FILE', '2024-01-01 00:00:00', NULL);
INSERT INTO bc_registries.corp_party (corp_party_id, corp_num, party_typ_cd, start_event_id, bus_company_num) VALUES (1, 'FM00001', 'FBO', 1, '0000009');`, []string{"0000009", "FM00001"}},
		{"FBO firm of an event owner", `INSERT INTO bc_registries.event VALUES (7, '0000009', 'FILE', '2024-01-01 00:00:00', NULL);
INSERT INTO bc_registries.corp_party (corp_party_id, corp_num, party_typ_cd, start_event_id, bus_company_num) VALUES (1, 'FM00001', 'FBO', 1, '0000009');`, []string{"0000009", "FM00001"}},
		{"nothing in the window", `INSERT INTO bc_registries.event VALUES (7, 'A000001', 'FILE', '2023-12-31 23:59:59', NULL);`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := source(t, tc.sql)
			got, err := s.CorpsSince(tctx(t), at("2024-01-01 00:00:00"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Corps, tc.want) {
				t.Errorf("CorpsSince = %v, want %v", got.Corps, tc.want)
			}
		})
	}
}

func TestAllCorps(t *testing.T) {
	s, _ := source(t, `
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd)
SELECT lpad(i::text, 7, '0'), 'BC' FROM generate_series(1, 25) i;
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd) VALUES ('   ', 'BC');`)
	ctx := tctx(t)
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.AllCorps(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			if pages != 3 {
				t.Errorf("%d pages, want 3 (10, 10, 5)", pages)
			}
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	var want []string
	for i := 1; i <= 25; i++ {
		want = append(want, fmt.Sprintf("%07d", i))
	}
	if !slices.Equal(all, want) {
		t.Errorf("AllCorps pages = %v, want %v", all, want)
	}
}

// One corp with a row of every table the loader reads, every column the
// model holds set, checked against a model built by hand from the SQL.
func TestLoadMapsEveryField(t *testing.T) {
	s, _ := source(t, `
INSERT INTO bc_registries.corp_type VALUES ('SP', 'Y', 'FIRM', 'SOLE PROP', 'Sole Proprietorship'),
                                         ('BC', 'Y', 'BC', 'BC COMPANY', 'BC Company');
INSERT INTO bc_registries.corp_op_state VALUES ('ACT', 'ACT', 'Active', 'Active'), ('D1F', 'HIS', 'Dissolved', 'Dissolved');
INSERT INTO bc_registries.event_type VALUES ('CONVL', 'CONV', 'Conversion', 'Conversion'), ('FILE', 'FILE', 'Filing', 'Filing'),
                                          ('ADMIN', 'ADMIN', 'Admin', 'Administrative');
INSERT INTO bc_registries.corporation VALUES
 ('FM00001', 'SP', '2001-02-03 04:05:06', '2010-01-01 00:00:00', '123456789', '123456789BC0001', 'a@b.c', NULL),
 ('0000009', 'BC', '1999-09-09 09:09:09', NULL, NULL, NULL, NULL, NULL);
INSERT INTO bc_registries.event VALUES
 (100, 'FM00001', 'CONVL', '2004-03-26 20:00:00', NULL),
 (101, 'FM00001', 'FILE',  '2005-01-01 10:00:00', '2004-12-31 00:00:00'),
 (102, 'FM00001', 'ADMIN', '2006-01-01 10:00:00', NULL),
 (103, 'FM00001', 'FILE',  '2007-01-01 10:00:00', NULL),
 (200, '0000009', 'FILE',  '2008-01-01 10:00:00', NULL);
INSERT INTO bc_registries.conv_event (event_id, effective_dt) VALUES (100, '2001-02-03 00:00:00');
INSERT INTO bc_registries.filing (event_id, filing_typ_cd, effective_dt) VALUES
 (101, 'FRREG', '2004-12-15 00:00:00'), (103, 'NOALA', NULL), (200, 'ANNBC', '2007-12-31 00:00:00');
INSERT INTO bc_registries.corp_name (corp_num, corp_name_typ_cd, start_event_id, end_event_id, corp_name_seq_num, corp_nme) VALUES
 ('FM00001', 'CO', 100, 101, 0, 'OLD NAME'),
 ('FM00001', 'CO', 101, NULL, 1, 'NEW NAME É'),
 ('FM00001', 'AS', 102, NULL, 2, NULL),
 ('FM00001', 'TR', 102, NULL, 3, 'TRANSLATED');
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, end_event_id, state_typ_cd) VALUES
 ('FM00001', 100, 103, 'ACT'), ('FM00001', 103, NULL, 'D1F');
INSERT INTO bc_registries.jurisdiction (corp_num, start_event_id, end_event_id, can_jur_typ_cd, home_recogn_dt, othr_juris_desc, home_juris_num, home_company_nme) VALUES
 ('FM00001', 0, NULL, 'OT', '1980-01-01 00:00:00', 'US, WA', 'WA-1', 'HOME CO');
INSERT INTO bc_registries.address (addr_id, province, country_typ_cd, postal_cd, addr_line_1, addr_line_2, addr_line_3, city, address_desc) VALUES
 (7, 'BC', 'CA', 'V1V 1V1', '1 MAIN ST', 'UNIT 2', NULL, 'DELTA', 'desc'),
 (8, NULL, 'GB', NULL, NULL, NULL, NULL, 'LONDON', NULL);
INSERT INTO bc_registries.office (corp_num, office_typ_cd, start_event_id, end_event_id, mailing_addr_id, delivery_addr_id) VALUES
 ('FM00001', 'FO', 101, NULL, 8, 7),
 ('FM00001', 'RC', 101, NULL, 8, 7);
INSERT INTO bc_registries.corp_party (corp_party_id, corp_num, party_typ_cd, start_event_id, end_event_id, bus_company_num, business_nme, appointment_dt, cessation_dt) VALUES
 (55, 'FM00001', 'FBO', 101, 103, '0000009', 'OWNER LTD', '2005-01-01 00:00:00', '2007-01-01 00:00:00'),
 (56, 'FM00001', 'DIR', 101, NULL, NULL, NULL, NULL, NULL);`)
	got, err := s.Load(tctx(t), []string{"FM00001", "0000009", "NOPE000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["NOPE000"] != nil {
		t.Fatalf("Load returned %d corps (%v), want FM00001 and 0000009 only", len(got), keys(got))
	}
	ev := func(id int64, corp, typ, ts string, trig *time.Time, filTyp string, fil, conv *time.Time, eff, untyped string) *model.Event {
		return &model.Event{ID: id, Corp: corp, TypeCd: typ, Timestamp: at(ts), Trigger: trig, FilingTypeCd: filTyp,
			FilingEffective: fil, ConvEffective: conv, Effective: at(eff), EffectiveUntyped: at(untyped)}
	}
	party := model.Party{ID: 55, CorpNum: "FM00001", BusCompanyNum: ptr("0000009"), PartyTypCd: "FBO", Start: 101, End: ptr[int64](103),
		BusinessNme: ptr("OWNER LTD"), AppointmentDt: ptr(at("2005-01-01 00:00:00")), CessationDt: ptr(at("2007-01-01 00:00:00")),
		// The firm's corporation row, for the relationship credential.
		Other: &model.CorpRef{Num: "FM00001", TypeCd: "SP", RecognitionDts: ptr(at("2001-02-03 04:05:06"))}}
	// Effective dates: 100 CONVL → conv_event date; 101 is an SP event
	// with trigger_dts → the trigger for the firm, the filing date
	// without a type; 103 FILE with a null filing date → timestamp;
	// event 0 → 0001-01-01.
	firm := &model.Corp{
		Num: "FM00001", TypeCd: "SP", Class: "FIRM",
		RecognitionDts: ptr(at("2001-02-03 04:05:06")), LastARFiled: ptr(at("2010-01-01 00:00:00")),
		BN9: ptr("123456789"), BN15: ptr("123456789BC0001"), AdminEmail: ptr("a@b.c"),
		TypeColinInd: ptr("Y"), TypeShortDesc: ptr("SOLE PROP"), TypeFullDesc: ptr("Sole Proprietorship"),
		Names: []model.Name{
			{TypeCd: "CO", Seq: 0, Start: 100, End: ptr[int64](101), Name: ptr("OLD NAME")},
			{TypeCd: "CO", Seq: 1, Start: 101, Name: ptr("NEW NAME É")},
			{TypeCd: "AS", Seq: 2, Start: 102},
		},
		States: []model.State{
			{Start: 100, End: ptr[int64](103), StateTypCd: "ACT", OpState: "ACT"},
			{Start: 103, StateTypCd: "D1F", OpState: "HIS"},
		},
		Jurisdictions: []model.Jurisdiction{{Start: 0, CanJurTypCd: "OT", OthrJurisDesc: ptr("US, WA"),
			HomeRecognDt: ptr(at("1980-01-01 00:00:00")), HomeJurisNum: ptr("WA-1"), HomeCompanyNme: ptr("HOME CO")}},
		Offices: []model.Office{{TypeCd: "FO", Start: 101,
			Mailing:       &model.Address{ID: 8, CountryTypCd: ptr("GB"), City: ptr("LONDON")},
			Delivery:      &model.Address{ID: 7, Province: ptr("BC"), CountryTypCd: ptr("CA"), PostalCd: ptr("V1V 1V1"), Line1: ptr("1 MAIN ST"), Line2: ptr("UNIT 2"), City: ptr("DELTA"), AddressDesc: ptr("desc")},
			MailingAddrID: ptr[int64](8), DeliveryAddrID: ptr[int64](7)}},
		Parties: []model.Party{party},
		Events: map[int64]*model.Event{
			0:   {ID: 0, Effective: MinDate, EffectiveUntyped: MinDate},
			100: ev(100, "FM00001", "CONVL", "2004-03-26 20:00:00", nil, "", nil, ptr(at("2001-02-03 00:00:00")), "2001-02-03 00:00:00", "2001-02-03 00:00:00"),
			101: ev(101, "FM00001", "FILE", "2005-01-01 10:00:00", ptr(at("2004-12-31 00:00:00")), "FRREG", ptr(at("2004-12-15 00:00:00")), nil, "2004-12-31 00:00:00", "2004-12-15 00:00:00"),
			102: ev(102, "FM00001", "ADMIN", "2006-01-01 10:00:00", nil, "", nil, nil, "2006-01-01 10:00:00", "2006-01-01 10:00:00"),
			103: ev(103, "FM00001", "FILE", "2007-01-01 10:00:00", nil, "NOALA", nil, nil, "2007-01-01 10:00:00", "2007-01-01 10:00:00"),
		},
	}
	// The owner sees the FBO row and the firm's events it names, resolved
	// for its own type (BC: no trigger rule), plus its own event.
	owner := &model.Corp{
		Num: "0000009", TypeCd: "BC", Class: "BC", RecognitionDts: ptr(at("1999-09-09 09:09:09")),
		TypeColinInd: ptr("Y"), TypeShortDesc: ptr("BC COMPANY"), TypeFullDesc: ptr("BC Company"),
		Parties: []model.Party{party},
		Events: map[int64]*model.Event{
			101: ev(101, "FM00001", "FILE", "2005-01-01 10:00:00", ptr(at("2004-12-31 00:00:00")), "FRREG", ptr(at("2004-12-15 00:00:00")), nil, "2004-12-15 00:00:00", "2004-12-15 00:00:00"),
			103: ev(103, "FM00001", "FILE", "2007-01-01 10:00:00", nil, "NOALA", nil, nil, "2007-01-01 10:00:00", "2007-01-01 10:00:00"),
			200: ev(200, "0000009", "FILE", "2008-01-01 10:00:00", nil, "ANNBC", ptr(at("2007-12-31 00:00:00")), nil, "2007-12-31 00:00:00", "2007-12-31 00:00:00"),
		},
	}
	for _, want := range []*model.Corp{firm, owner} {
		c := got[want.Num]
		if !reflect.DeepEqual(c, want) {
			t.Errorf("corp %s:\n got %s\nwant %s", want.Num, dump(c), dump(want))
		}
	}
}

// Unknown codes and broken links load as they are.
func TestLoadBrokenLinks(t *testing.T) {
	s, _ := source(t, `
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd) VALUES ('0000001', 'ZZ');
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, state_typ_cd) VALUES ('0000001', 77, 'QQQ');
INSERT INTO bc_registries.office (corp_num, office_typ_cd, start_event_id, mailing_addr_id, delivery_addr_id) VALUES
 ('0000001', 'RG', 0, NULL, 4242);
INSERT INTO bc_registries.corp_name (corp_num, corp_name_typ_cd, start_event_id, corp_name_seq_num, corp_nme) VALUES
 ('0000001', 'CO', 0, 0, 'X');`)
	got, err := s.Load(tctx(t), []string{"0000001"})
	if err != nil {
		t.Fatal(err)
	}
	want := &model.Corp{
		Num: "0000001", TypeCd: "ZZ",
		Names:   []model.Name{{TypeCd: "CO", Start: 0, Name: ptr("X")}},
		States:  []model.State{{Start: 77, StateTypCd: "QQQ"}},
		Offices: []model.Office{{TypeCd: "RG", Start: 0, DeliveryAddrID: ptr[int64](4242)}},
		// Event 77 has no row: absent. Event 0 is given.
		Events: map[int64]*model.Event{0: {ID: 0, Effective: MinDate, EffectiveUntyped: MinDate}},
	}
	if c := got["0000001"]; !reflect.DeepEqual(c, want) {
		t.Errorf("got %s\nwant %s", dump(c), dump(want))
	}
	if got, err := s.Load(tctx(t), nil); err != nil || len(got) != 0 {
		t.Errorf("Load(nil) = %v, %v; want empty", got, err)
	}
}

func keys(m map[string]*model.Corp) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func dump(c *model.Corp) string {
	if c == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%+v", *c)
	for id, e := range c.Events {
		s += fmt.Sprintf("\n  event %d: %+v", id, *e)
	}
	return s
}
