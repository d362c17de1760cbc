package colin

import (
	"fmt"
	"reflect"
	"testing"
)

// genSQL fills the source with n corps of varied shape, numbered
// 0000001…: types BC, SP, A, ULC, GP in turn; twelve events each (a
// conversion event, filings with and without effective dates, a firm
// trigger_dts on every other corp, admin events no row names); two legal
// names and on some an assumed name; an ACT then HIS state; a
// jurisdiction for type A; two registered offices, every seventh corp's
// delivery address a broken link; and each SP/GP firm owned (FBO) by the
// corp numbered before it.
func genSQL(n int) string {
	return fmt.Sprintf(`
INSERT INTO bc_registries.corp_type VALUES
 ('BC', 'Y', 'BC', 'BC', 'BC Company'), ('SP', 'Y', 'FIRM', 'SP', 'Sole Prop'), ('A', 'Y', 'XPRO', 'A', 'Extra Pro'),
 ('ULC', 'Y', 'BC', 'ULC', 'Unlimited'), ('GP', 'Y', 'FIRM', 'GP', 'General Partnership');
INSERT INTO bc_registries.corp_op_state VALUES ('ACT', 'ACT', 'Active', 'Active'), ('D1F', 'HIS', 'Dissolved', 'Dissolved');
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd, recognition_dts, bn_9)
SELECT lpad(i::text, 7, '0'), (ARRAY['BC','SP','A','ULC','GP'])[i %% 5 + 1],
       '1990-01-01'::timestamp + i * interval '1 hour', CASE WHEN i %% 3 = 0 THEN lpad((i * 7919)::text, 9, '0') END
  FROM generate_series(1, %[1]d) i;
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp, trigger_dts)
SELECT i * 20 + k, lpad(i::text, 7, '0'),
       (ARRAY['CONVL','FILE','ADMIN','FILE','FILE','FILE','ADMIN','ADMIN','FILE','ADMIN','FILE','ADMIN'])[k + 1],
       '2004-03-26 10:00:00'::timestamp + (k * 400 + i %% 97) * interval '1 day',
       CASE WHEN k = 5 AND i %% 2 = 0 THEN '2005-01-01'::timestamp + i * interval '1 minute' END
  FROM generate_series(1, %[1]d) i, generate_series(0, 11) k;
INSERT INTO bc_registries.conv_event (event_id, effective_dt)
SELECT i * 20, '1995-01-01'::timestamp + i * interval '1 day' FROM generate_series(1, %[1]d) i;
INSERT INTO bc_registries.filing (event_id, filing_typ_cd, effective_dt)
SELECT e.event_id, (ARRAY['ANNBC','NOALA','TRANS'])[e.event_id %% 3 + 1],
       CASE WHEN e.event_id %% 3 <> 0 THEN e.event_timestmp - interval '1 day' END
  FROM bc_registries.event e WHERE e.event_typ_cd = 'FILE';
INSERT INTO bc_registries.corp_name (corp_num, corp_name_typ_cd, start_event_id, end_event_id, corp_name_seq_num, corp_nme)
SELECT lpad(i::text, 7, '0'), 'CO', i * 20, i * 20 + 1, 0, 'FIRST NAME ' || i FROM generate_series(1, %[1]d) i
UNION ALL
SELECT lpad(i::text, 7, '0'), 'CO', i * 20 + 1, NULL, 1, 'SECOND NAME ' || i FROM generate_series(1, %[1]d) i
UNION ALL
SELECT lpad(i::text, 7, '0'), 'AS', i * 20 + 2, NULL, 2, 'ASSUMED ' || i FROM generate_series(1, %[1]d) i WHERE i %% 4 = 0;
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, end_event_id, state_typ_cd)
SELECT lpad(i::text, 7, '0'), i * 20, i * 20 + 5, 'ACT' FROM generate_series(1, %[1]d) i
UNION ALL
SELECT lpad(i::text, 7, '0'), i * 20 + 5, NULL, 'D1F' FROM generate_series(1, %[1]d) i;
INSERT INTO bc_registries.jurisdiction (corp_num, start_event_id, can_jur_typ_cd, othr_juris_desc)
SELECT lpad(i::text, 7, '0'), i * 20, 'OT', 'US, WA' FROM generate_series(1, %[1]d) i WHERE i %% 5 = 2;
INSERT INTO bc_registries.address (addr_id, province, country_typ_cd, postal_cd, addr_line_1, city)
SELECT i * 20 + k, 'BC', 'CA', 'V0V 0V' || k, k || ' MAIN ST', 'VANCOUVER' FROM generate_series(1, %[1]d) i, generate_series(0, 1) k;
INSERT INTO bc_registries.office (corp_num, office_typ_cd, start_event_id, end_event_id, mailing_addr_id, delivery_addr_id)
SELECT lpad(i::text, 7, '0'), 'RG', i * 20, i * 20 + 3, i * 20, i * 20 + 1 FROM generate_series(1, %[1]d) i
UNION ALL
SELECT lpad(i::text, 7, '0'), 'RG', i * 20 + 3, NULL, NULL, CASE WHEN i %% 7 = 0 THEN i * 20 + 19 ELSE i * 20 END FROM generate_series(1, %[1]d) i;
INSERT INTO bc_registries.corp_party (corp_party_id, corp_num, party_typ_cd, start_event_id, end_event_id, bus_company_num, business_nme)
SELECT i, lpad(i::text, 7, '0'), 'FBO', i * 20 + 1, CASE WHEN i %% 3 = 0 THEN i * 20 + 8 END, lpad((i - 1)::text, 7, '0'), 'OWNER ' || (i - 1)
  FROM generate_series(2, %[1]d) i WHERE i %% 5 IN (1, 4);
ANALYZE;`, n)
}

func corpNums(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%07d", i))
	}
	return out
}

// Loading a batch gives every corp exactly what loading it alone gives:
// no row or event leaks between corps of a batch, none is lost.
func TestLoadBatchEqualsOneByOne(t *testing.T) {
	s, _ := source(t, genSQL(300))
	ctx := tctx(t)
	nums := append(corpNums(1, 300), "9999999")
	batch, err := s.Load(ctx, nums)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 300 {
		t.Fatalf("batch loaded %d corps, want 300", len(batch))
	}
	for _, n := range nums {
		one, err := s.Load(ctx, []string{n})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(batch[n], one[n]) {
			t.Fatalf("corp %s: batch\n%s\nalone\n%s", n, dump(batch[n]), dump(one[n]))
		}
	}
	// The data has what the comparison is about: shared FBO rows, both
	// sides' events, broken addresses, firm triggers.
	firm, owner := batch["0000004"], batch["0000003"]
	if len(firm.Parties) != 1 || len(owner.Parties) != 1 || firm.Parties[0].ID != owner.Parties[0].ID {
		t.Errorf("FBO 4→3 not on both sides: firm %v, owner %v", firm.Parties, owner.Parties)
	}
	if owner.Events[81] == nil || owner.Events[81].Corp != "0000004" {
		t.Errorf("owner 0000003 lacks the firm's party start event 81: %v", owner.Events[81])
	}
	if o := batch["0000007"].Offices[1]; o.Delivery != nil || o.DeliveryAddrID == nil || *o.DeliveryAddrID != 159 {
		t.Errorf("corp 0000007's second office: delivery %v id %v, want a broken link to 159", o.Delivery, o.DeliveryAddrID)
	}
	// Corp 4 is GP (4 % 5 = 4 → GP) with trigger_dts on event 85: its
	// state end event resolves to the trigger 2005-01-01 + 4 minutes.
	if e := firm.Events[85]; e == nil || !e.Effective.Equal(at("2005-01-01 00:04:00")) {
		t.Errorf("firm event 85: %+v, want Effective 2005-01-01 00:04:00", e)
	}
	if len(firm.Events) != 12 {
		t.Errorf("firm 0000004 has %d events, want its 12", len(firm.Events))
	}
}

// BenchmarkLoad1000 loads 1,000 corps of a 20,000-corp source per
// iteration, warm, and reports corps per second.
func BenchmarkLoad1000(b *testing.B) {
	s, _ := source(b, genSQL(20000))
	ctx := tctx(b)
	nums := corpNums(2001, 3000)
	if got, err := s.Load(ctx, nums); err != nil || len(got) != 1000 {
		b.Fatalf("warm-up: %d corps, %v", len(got), err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Load(ctx, nums); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "corps/s")
}
