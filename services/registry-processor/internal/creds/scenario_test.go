package creds

import (
	"testing"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// Expected values in these tests are derived by hand from the original's
// rules (see the comments); dates are written as the encoder writes them:
// PST is UTC-8, PDT UTC-7.

// A BC company: one incorporation event, a name, an active state, a
// registered office and a business number → REG, ADDR, BNC.
func TestBasicBCCorp(t *testing.T) {
	recog := at(1990, 5, 15, 10, 0) // PDT → 17:00Z
	c := corp("0641655", "BC", "BC", &recog).
		ev(100, "FILE", recog, filing("ICORP", nil)).
		name("CO", 1, 100, nil, "EXAMPLE HOLDINGS LTD.").
		state(100, nil, "ACT", "ACT").
		office("RG", 100, nil, addr(1, "123 MAIN ST", "VANCOUVER", "BC", "V6B1A1", "CA")).
		bn("123456789 ").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if r.CorpState != "ACT" || types(r.Creds) != "REG,ADDR,BNC" || r.Requeue != nil {
		t.Fatalf("state %s creds %s requeue %v", r.CorpState, types(r.Creds), r.Requeue)
	}
	d := "1990-05-15T17:00:00+00:00"
	checkCred(t, r.Creds[0], "REG", "0641655", "Filing:ICORP", regBase(map[string]string{
		"registration_id": "BC0641655", "registration_date": d,
		"entity_name": "EXAMPLE HOLDINGS LTD.", "entity_name_effective": d,
		"entity_status": "ACT", "entity_status_effective": d, // first ACT row: recognition date
		"entity_type": "BC", "effective_date": d,
	}))
	checkCred(t, r.Creds[1], "ADDR", "0641655,RG", "Filing:ICORP", map[string]string{
		"registration_id": "BC0641655", "addressee": "EXAMPLE HOLDINGS LTD.", "address_type": "RG",
		"civic_address": "123 MAIN ST, VANCOUVER, BC, V6B1A1, CA", "municipality": "VANCOUVER",
		"province": "BC", "postal_code": "V6B1A1", "country": "CA",
		"address_effective_date": d, "effective_date": d, "expiry_date": "",
	})
	checkCred(t, r.Creds[2], "BNC", "BC0641655", "", map[string]string{
		"registration_id": "BC0641655", "business_number": "123456789", "effective_date": d, "expiry_date": "",
	})
	// The whole string, written out by hand in Python's format.
	if want := `{"business_number": "123456789", "effective_date": "1990-05-15T17:00:00+00:00", "expiry_date": "", "registration_id": "BC0641655"}`; r.Creds[2].JSON != want {
		t.Errorf("BNC JSON %s", r.Creds[2].JSON)
	}
}

// A sole proprietorship that is dissolved: its state events are dated by
// trigger_dts (firm rule), it has no BC prefix, and the dissolution is a
// second REG.
func TestFirmDissolution(t *testing.T) {
	recog := at(2010, 1, 10, 9, 0) // PST → 17:00Z
	c := corp("FM0001234", "SP", "FIRM", &recog).
		ev(1, "FILE", recog, filing("FRREG", nil)).
		ev(2, "SYSDF", at(2015, 6, 1, 9, 0), trigger(at(2015, 5, 20, 0, 0))). // PDT → 07:00Z
		name("CO", 1, 1, nil, `JOE'S "BEST" PLUMBING \ CO`).
		state(1, ptr[int64](2), "ACT", "ACT").
		state(2, nil, "HDF", "HIS").
		office("FO", 1, nil, &model.Address{ID: 9, Line1: ptr("100 RIVER RD"), City: ptr("DELTA"), Province: ptr("BC"), PostalCd: ptr("V4K1A1"), CountryTypCd: ptr("CA")}).c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if r.CorpState != "HIS" || types(r.Creds) != "REG,REG,ADDR" {
		t.Fatalf("state %s creds %s", r.CorpState, types(r.Creds))
	}
	d1, d2 := "2010-01-10T17:00:00+00:00", "2015-05-20T07:00:00+00:00"
	name := `JOE'S "BEST" PLUMBING \ CO`
	checkCred(t, r.Creds[0], "REG", "FM0001234", "Filing:FRREG", regBase(map[string]string{
		"registration_id": "FM0001234", "registration_date": d1, "entity_name": name, "entity_name_effective": d1,
		"entity_status": "ACT", "entity_status_effective": d1, "entity_type": "SP", "effective_date": d1,
	}))
	// At 2015-05-20 the ACT row has ended (its end is not after the date)
	// and the HIS row is open.
	checkCred(t, r.Creds[1], "REG", "FM0001234", "Event:SYSDF", regBase(map[string]string{
		"registration_id": "FM0001234", "registration_date": d1, "entity_name": name, "entity_name_effective": d1,
		"entity_status": "HIS", "entity_status_effective": d2, "entity_type": "SP", "effective_date": d2,
	}))
	checkCred(t, r.Creds[2], "ADDR", "FM0001234,FO", "Filing:FRREG", map[string]string{
		"registration_id": "FM0001234", "addressee": name, "address_type": "FO",
		"civic_address": "100 RIVER RD, DELTA, BC, V4K1A1, CA", "municipality": "DELTA",
		"province": "BC", "postal_code": "V4K1A1", "country": "CA",
		"address_effective_date": d1, "effective_date": d1, "expiry_date": "",
	})
}

// Extra-provincial corps take their home jurisdiction from the row in
// force: OT uses its description (or OT when there is none).
func TestExtraProvincialJurisdictions(t *testing.T) {
	recog := at(2001, 2, 3, 10, 0) // PST → 18:00Z
	for _, tc := range []struct {
		name, typ, class string
		jurCd            string // "" = no jurisdiction row
		desc             *string
		home, registered string
		regID            string
	}{
		{"OT with description", "A", "XPRO", "OT", ptr("US, WA"), "US, WA", "BC", "A0012345"},
		{"OT GB", "A", "XPRO", "OT", ptr("GB"), "GB", "BC", "A0012345"},
		{"OT null description", "A", "XPRO", "OT", nil, "OT", "BC", "A0012345"},
		{"federal", "A", "XPRO", "FD", nil, "FD", "BC", "A0012345"},
		{"Manitoba", "A", "XPRO", "MB", nil, "MB", "BC", "A0012345"},
		{"home BC", "A", "XPRO", "BC", nil, "BC", "", "A0012345"},
		{"unknown code passes through", "A", "XPRO", "ZZ", nil, "ZZ", "BC", "A0012345"},
		{"no jurisdiction row", "A", "XPRO", "", nil, "", "", "A0012345"},
		{"XP by type, class FIRM", "XP", "FIRM", "AB", nil, "AB", "BC", "A0012345"},
		{"ULC is BC whatever its rows", "ULC", "BC", "ON", nil, "BC", "", "BCA0012345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := corp("A0012345", tc.typ, tc.class, &recog).
				ev(1, "FILE", recog, filing("REGXP", nil)).
				name("CO", 1, 1, nil, "ACME WIDGETS INC.").
				state(1, nil, "ACT", "ACT")
			if tc.jurCd != "" {
				b.jur(1, nil, tc.jurCd, tc.desc)
			}
			r := Generate(b.c, all, now, pacific.Tz2024b)
			mustOK(t, r)
			if types(r.Creds) != "REG" {
				t.Fatalf("creds %s", types(r.Creds))
			}
			d := "2001-02-03T18:00:00+00:00"
			checkCred(t, r.Creds[0], "REG", "A0012345", "Filing:REGXP", regBase(map[string]string{
				"registration_id": tc.regID, "registration_date": d, "entity_name": "ACME WIDGETS INC.", "entity_name_effective": d,
				"entity_status": "ACT", "entity_status_effective": d, "entity_type": tc.typ, "effective_date": d,
				"home_jurisdiction": tc.home, "registered_jurisdiction": tc.registered,
			}))
		})
	}
}

// An assumed name appears from the event that registered it on.
func TestAssumedName(t *testing.T) {
	recog := at(2005, 7, 1, 10, 0) // PDT → 17:00Z
	c := corp("A1196902", "A", "XPRO", &recog).
		ev(1, "FILE", recog, filing("REGXP", nil)).
		ev(2, "FILE", at(2008, 1, 15, 14, 30), filing("AM", nil)). // PST → 22:30Z
		name("CO", 1, 1, nil, "ORIGINAL NAME LTD").
		name("AS", 2, 2, nil, "ASSUMED NAME LTD").
		state(1, nil, "ACT", "ACT").
		jur(1, nil, "ON", nil).c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG,REG" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	d1, d2 := "2005-07-01T17:00:00+00:00", "2008-01-15T22:30:00+00:00"
	base := map[string]string{
		"registration_id": "A1196902", "registration_date": d1, "entity_name": "ORIGINAL NAME LTD", "entity_name_effective": d1,
		"entity_status": "ACT", "entity_status_effective": d1, "entity_type": "A",
		"home_jurisdiction": "ON", "registered_jurisdiction": "BC",
	}
	first := regBase(base)
	first["effective_date"] = d1
	checkCred(t, r.Creds[0], "REG", "A1196902", "Filing:REGXP", first)
	second := regBase(base)
	second["effective_date"] = d2
	second["entity_name_assumed"], second["entity_name_assumed_effective"] = "ASSUMED NAME LTD", d2
	checkCred(t, r.Creds[1], "REG", "A1196902", "Filing:AM", second)
}

func dbaOwner() *corpB {
	recog := at(2000, 1, 1, 0, 0) // PST → 08:00Z
	return corp("0777777", "BC", "BC", &recog).
		ev(1, "FILE", recog, filing("ICORP", nil)).
		name("CO", 1, 1, nil, "OWNER CORP LTD.").
		state(1, nil, "ACT", "ACT")
}

func ownerREG() map[string]string {
	d := "2000-01-01T08:00:00+00:00"
	return regBase(map[string]string{
		"registration_id": "BC0777777", "registration_date": d, "entity_name": "OWNER CORP LTD.", "entity_name_effective": d,
		"entity_status": "ACT", "entity_status_effective": d, "entity_type": "BC", "effective_date": d,
	})
}

func rel(assoc, eff, statusEff, expiry string) map[string]string {
	return map[string]string{
		"registration_id": "BC0777777", "associated_registration_id": assoc, "associated_registration_name": "",
		"relationship": "Owns", "relationship_description": "Does Business As", "relationship_status": "ACT",
		"effective_date": eff, "relationship_status_effective": statusEff, "expiry_date": expiry,
	}
}

// A corp doing business as one sole proprietorship: REG, then REL from
// the firm's FBO row.
func TestSingleDBA(t *testing.T) {
	firm := &model.CorpRef{Num: "FM1111111", TypeCd: "SP", RecognitionDts: ptr(at(2012, 3, 4, 0, 0))}
	c := dbaOwner().
		ev(5, "FILE", at(2012, 3, 4, 11, 0), filing("FRREG", nil)). // PST → 19:00Z
		fbo(10, firm, 5, nil).c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG,REL" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	checkCred(t, r.Creds[0], "REG", "0777777", "Filing:ICORP", ownerREG())
	d := "2012-03-04T19:00:00+00:00"
	checkCred(t, r.Creds[1], "REL", "BC0777777", "Filing:FRREG", rel("FM1111111", d, d, ""))
}

// Several firms: RELs in effective-start order; an ended row expires;
// an ADMIN start on a firm's only row takes the firm's registration date;
// a firm with two rows keeps its event dates; a non-firm gets nothing.
func TestMultipleDBA(t *testing.T) {
	a := &model.CorpRef{Num: "FM2000001", TypeCd: "SP", RecognitionDts: ptr(at(2011, 5, 5, 0, 0))} // PDT → 07:00Z
	b := &model.CorpRef{Num: "FM2000002", TypeCd: "MF", RecognitionDts: ptr(at(2013, 1, 1, 0, 0))}
	bc := &model.CorpRef{Num: "0999999", TypeCd: "BC"}
	d := &model.CorpRef{Num: "FM2000004", TypeCd: "SP", RecognitionDts: ptr(at(2017, 1, 1, 0, 0))}
	c := dbaOwner().
		ev(11, "ADMIN", at(2019, 9, 9, 10, 0)).
		ev(12, "FILE", at(2013, 2, 2, 10, 0), filing("FRREG", nil)). // PST → 18:00Z
		ev(13, "FILE", at(2016, 8, 8, 10, 0), filing("DISLV", nil)). // PDT → 17:00Z
		ev(14, "FILE", at(2014, 4, 4, 10, 0), filing("FRREG", nil)).
		ev(15, "ADMIN", at(2018, 1, 1, 10, 0)). // PST → 18:00Z
		ev(16, "ADMIN", at(2018, 6, 1, 10, 0)). // PDT → 17:00Z
		fbo(21, a, 11, nil).
		fbo(22, b, 12, ptr[int64](13)).
		fbo(23, bc, 14, nil).
		fbo(24, d, 15, ptr[int64](16)).
		fbo(25, d, 16, nil).c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG,REL,REL,REL,REL" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	checkCred(t, r.Creds[0], "REG", "0777777", "Filing:ICORP", ownerREG())
	checkCred(t, r.Creds[1], "REL", "BC0777777", "Filing:FRREG", rel("FM2000002", "2013-02-02T18:00:00+00:00", "2013-02-02T18:00:00+00:00", "2016-08-08T17:00:00+00:00"))
	checkCred(t, r.Creds[2], "REL", "BC0777777", "Event:ADMIN", rel("FM2000004", "2018-01-01T18:00:00+00:00", "2018-01-01T18:00:00+00:00", "2018-06-01T17:00:00+00:00"))
	checkCred(t, r.Creds[3], "REL", "BC0777777", "Event:ADMIN", rel("FM2000004", "2018-06-01T17:00:00+00:00", "2018-06-01T17:00:00+00:00", ""))
	checkCred(t, r.Creds[4], "REL", "BC0777777", "Event:ADMIN", rel("FM2000001", "2011-05-05T07:00:00+00:00", "2011-05-05T07:00:00+00:00", ""))

	// A window that holds only the 2016 dissolution re-issues just that
	// firm's row (its end is in the window) and no REG.
	w := Window{PrevEventID: 13, PrevEventDate: at(2016, 8, 8, 10, 0), LastEventID: 13, LastEventDate: at(2016, 8, 8, 10, 0)}
	r = Generate(c, w, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REL" || r.Creds[0].Attrs["associated_registration_id"] != "FM2000002" {
		t.Fatalf("windowed creds %s", types(r.Creds))
	}
}

// Converted data without a recognition date: the conversion event is the
// only one, so it is used; the state is conversion-dated (""), the name
// is not blanked because it is the last event.
func TestEmptyDates(t *testing.T) {
	c := corp("0123456", "BC", "BC", nil).
		ev(1, "CONVL", at(2004, 3, 26, 20, 0)). // PST → 2004-03-27 04:00Z
		name("CO", 1, 1, nil, "CONVERTED LTD.").
		state(1, nil, "ACT", "ACT").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	d := "2004-03-27T04:00:00+00:00"
	checkCred(t, r.Creds[0], "REG", "0123456", "Event:CONVL", regBase(map[string]string{
		"registration_id": "BC0123456", "registration_date": "", "entity_name": "CONVERTED LTD.", "entity_name_effective": d,
		"entity_status": "ACT", "entity_status_effective": "", "entity_type": "BC", "effective_date": d,
	}))
}

// Converted data with a recognition date: the conversion start of the
// first name and state is replaced by it; then a name change.
func TestConversionDates(t *testing.T) {
	recog := at(1995, 4, 4, 0, 0) // PDT (DST began 1995-04-02) → 07:00Z
	c := corp("0234567", "BC", "BC", &recog).
		ev(1, "CONVL", at(2004, 3, 26, 20, 0)).
		ev(2, "FILE", at(2006, 6, 6, 10, 0), filing("ANNBC", nil)). // PDT → 17:00Z
		name("CO", 1, 1, ptr[int64](2), "OLD NAME LTD.").
		name("CO", 2, 2, nil, "NEW NAME LTD.").
		state(1, nil, "ACT", "ACT").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG,REG" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	d1, d2 := "1995-04-04T07:00:00+00:00", "2006-06-06T17:00:00+00:00"
	checkCred(t, r.Creds[0], "REG", "0234567", "Event:CONVL", regBase(map[string]string{
		"registration_id": "BC0234567", "registration_date": d1, "entity_name": "OLD NAME LTD.", "entity_name_effective": d1,
		"entity_status": "ACT", "entity_status_effective": d1, "entity_type": "BC", "effective_date": d1,
	}))
	checkCred(t, r.Creds[1], "REG", "0234567", "Filing:ANNBC", regBase(map[string]string{
		"registration_id": "BC0234567", "registration_date": d1, "entity_name": "NEW NAME LTD.", "entity_name_effective": d2,
		"entity_status": "ACT", "entity_status_effective": d1, "entity_type": "BC", "effective_date": d2,
	}))
}

// Without a recognition date a conversion event that is not the last is
// skipped; the dissolution after it is the only REG.
func TestConversionEventSkipped(t *testing.T) {
	c := corp("0345600", "BC", "BC", nil).
		ev(1, "CONVL", at(2004, 3, 26, 20, 0)).
		ev(2, "FILE", at(2010, 10, 10, 10, 0), filing("DISLV", nil)). // PDT → 17:00Z
		name("CO", 1, 1, nil, "GONE LTD.").
		state(1, ptr[int64](2), "ACT", "ACT").
		state(2, nil, "HDS", "HIS").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if r.CorpState != "HIS" || types(r.Creds) != "REG" {
		t.Fatalf("state %s creds %s", r.CorpState, types(r.Creds))
	}
	checkCred(t, r.Creds[0], "REG", "0345600", "Filing:DISLV", regBase(map[string]string{
		"registration_id": "BC0345600", "registration_date": "", "entity_name": "GONE LTD.",
		"entity_name_effective": "2004-03-27T04:00:00+00:00", // conversion-dated, but the last event
		"entity_status":         "HIS", "entity_status_effective": "2010-10-10T17:00:00+00:00",
		"entity_type": "BC", "effective_date": "2010-10-10T17:00:00+00:00",
	}))
}

// A filing effective after "now" is a future event: no credential for it
// yet, and the corp is queued again for it.
func TestFutureDatedEvent(t *testing.T) {
	recog := at(2020, 1, 1, 0, 0) // PST → 08:00Z
	c := corp("0345678", "BC", "BC", &recog).
		ev(1, "FILE", recog, filing("ICORP", nil)).
		ev(2, "FILE", at(2026, 5, 20, 10, 0), filing("NOCHG", ptr(at(2026, 7, 1, 0, 0)))).
		name("CO", 1, 1, ptr[int64](2), "FIRST NAME LTD.").
		name("CO", 2, 2, nil, "LATER NAME LTD.").
		state(1, nil, "ACT", "ACT").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	d := "2020-01-01T08:00:00+00:00"
	checkCred(t, r.Creds[0], "REG", "0345678", "Filing:ICORP", regBase(map[string]string{
		"registration_id": "BC0345678", "registration_date": d, "entity_name": "FIRST NAME LTD.", "entity_name_effective": d,
		"entity_status": "ACT", "entity_status_effective": d, "entity_type": "BC", "effective_date": d,
	}))
	want := Window{PrevEventID: 2, PrevEventDate: at(2026, 5, 20, 10, 0), LastEventID: 2, LastEventDate: at(2026, 7, 1, 0, 0)}
	if r.Requeue == nil || *r.Requeue != want {
		t.Fatalf("requeue %+v, want %+v", r.Requeue, want)
	}
	// Once the date has passed, the queued window issues the new name.
	r = Generate(c, want, at(2026, 7, 2, 0, 0), pacific.Tz2024b)
	mustOK(t, r)
	if r.Requeue != nil || types(r.Creds) != "REG" || r.Creds[0].Attrs["entity_name"] != "LATER NAME LTD." ||
		r.Creds[0].Attrs["effective_date"] != "2026-07-01T07:00:00+00:00" {
		t.Fatalf("after the date: requeue %v creds %s %v", r.Requeue, types(r.Creds), r.Creds)
	}
}

// A notice of alteration blanks the entity type of the earlier REGs.
func TestNoticeOfAlteration(t *testing.T) {
	recog := at(2000, 1, 1, 0, 0)
	c := corp("0456789", "BC", "BC", &recog).
		ev(1, "FILE", recog, filing("ICORP", nil)).
		ev(2, "FILE", at(2007, 1, 1, 0, 0), filing("NOALU", nil)). // PST → 08:00Z
		name("CO", 1, 1, ptr[int64](2), "BEFORE LTD.").
		name("CO", 2, 2, nil, "AFTER LTD.").
		state(1, nil, "ACT", "ACT").c
	r := Generate(c, all, now, pacific.Tz2024b)
	mustOK(t, r)
	if types(r.Creds) != "REG,REG" {
		t.Fatalf("creds %s", types(r.Creds))
	}
	if r.Creds[0].Attrs["entity_type"] != "" || r.Creds[1].Attrs["entity_type"] != "BC" || r.Creds[1].Reason != "Filing:NOALU" {
		t.Errorf("entity types %q %q", r.Creds[0].Attrs["entity_type"], r.Creds[1].Attrs["entity_type"])
	}
}

func TestWithdrawnAndSkipped(t *testing.T) {
	recog := at(2000, 1, 1, 0, 0)
	c := corp("A7777777", "A", "XPRO", &recog).
		ev(1, "FILE", recog, filing("REGXP", nil)).
		ev(2, "FILE", at(2001, 1, 1, 0, 0), filing("WITHD", nil)).
		name("CO", 1, 1, nil, "WITHDRAWN INC.").
		state(1, ptr[int64](2), "ACT", "ACT").
		state(2, nil, "HWT", "HIS").bn("111111111").c
	r := Generate(c, all, now, pacific.Tz2024b)
	if !r.Withdrawn || len(r.Creds) != 0 || r.CorpState != "HIS" || r.Held != "" || r.Requeue != nil {
		t.Errorf("withdrawn: %+v", r)
	}
	c.TypeCd = "FI"
	if r := Generate(c, all, now, pacific.Tz2024b); r.Skip != "FI: Skipped, not in scope" || len(r.Creds) != 0 {
		t.Errorf("skip: %+v", r)
	}
	if r := Generate(nil, all, now, pacific.Tz2024b); r.Skip != ": Skipped, not in scope" {
		t.Errorf("nil corp: %+v", r)
	}
	for _, typ := range []string{"BC", "ULC", "CC", "BEN", "A", "SP", "GP", "XP", "S", "QA"} {
		if !InScope(typ) {
			t.Errorf("%s not in scope", typ)
		}
	}
	for _, typ := range []string{"FI", "PAR", "LIB", "", "bc"} {
		if InScope(typ) {
			t.Errorf("%q in scope", typ)
		}
	}
	for in, want := range map[[2]string]string{{"0641655", "BC"}: "BC0641655", {"1", "BEN"}: "BC1", {"FM1", "SP"}: "FM1", {"A1", "A"}: "A1", {"C1", "CC"}: "BCC1"} {
		if got := RegistrationID(in[0], in[1]); got != want {
			t.Errorf("RegistrationID%v = %s, want %s", in, got, want)
		}
	}
}

var _ = time.Now
