package creds

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// historyCorp has a life of five events: incorporation, a name change, an
// assumed name, a firm it does business as, and a dissolution.
func historyCorp() *model.Corp {
	recog := at(1999, 9, 9, 9, 0)
	firm := &model.CorpRef{Num: "FM5550001", TypeCd: "SP", RecognitionDts: ptr(at(2011, 11, 1, 0, 0))}
	return corp("0888387", "BC", "BC", &recog).
		ev(1, "FILE", recog, filing("ICORP", nil)).
		ev(2, "FILE", at(2003, 3, 3, 10, 0), filing("NOCHG", nil)).
		ev(3, "FILE", at(2009, 9, 9, 10, 0), filing("AM", nil)).
		ev(5, "FILE", at(2011, 11, 11, 10, 0), filing("FRREG", nil)).
		ev(4, "FILE", at(2015, 5, 5, 10, 0), filing("DISLV", nil)).
		name("CO", 1, 1, ptr[int64](2), "FIRST LTD.").
		name("CO", 2, 2, nil, "SECOND LTD.").
		name("AS", 3, 3, nil, "ALSO KNOWN LTD.").
		state(1, ptr[int64](4), "ACT", "ACT").
		state(4, nil, "HDS", "HIS").
		office("RG", 1, nil, addr(1, "1 FIRST ST", "VICTORIA", "BC", "V8V1A1", "CA")).
		fbo(30, firm, 5, nil).
		bn("987654321").c
}

// asOf is the corp as the registry held it at cut: rows started by then,
// ended only if their end event had happened.
func asOf(c *model.Corp, cut time.Time) *model.Corp {
	out := &model.Corp{Num: c.Num, TypeCd: c.TypeCd, Class: c.Class, RecognitionDts: c.RecognitionDts, BN9: c.BN9, Events: map[int64]*model.Event{}}
	seen := func(id int64) bool { return !c.Events[id].Timestamp.After(cut) }
	end := func(e *int64) *int64 {
		if e != nil && seen(*e) {
			return e
		}
		return nil
	}
	for id, e := range c.Events {
		if seen(id) {
			out.Events[id] = e
		}
	}
	for _, n := range c.Names {
		if seen(n.Start) {
			n.End = end(n.End)
			out.Names = append(out.Names, n)
		}
	}
	for _, s := range c.States {
		if seen(s.Start) {
			s.End = end(s.End)
			out.States = append(out.States, s)
		}
	}
	for _, o := range c.Offices {
		if seen(o.Start) {
			o.End = end(o.End)
			out.Offices = append(out.Offices, o)
		}
	}
	for _, p := range c.Parties {
		if seen(p.Start) {
			p.End = end(p.End)
			out.Parties = append(out.Parties, p)
		}
	}
	return out
}

// The original's history test: generating a corp's whole history at once
// gives the same credentials as generating it event window by event
// window (each window seeing the corp as it was then) and dropping
// hashes already stored.
func TestHistoryAtOnceEqualsWindowByWindow(t *testing.T) {
	full := historyCorp()
	order := []int64{1, 2, 3, 5, 4} // by timestamp
	lastEv := full.Events[4]
	whole := Generate(full, Window{LastEventID: 4, LastEventDate: lastEv.Timestamp, PrevEventDate: at(1, 1, 1, 0, 0)}, now, pacific.Tz2024b)
	mustOK(t, whole)
	// 4 REGs (states, names and jurisdictions date them; the party's
	// event does not), ADDR, REL, BNC.
	if types(whole.Creds) != "REG,REG,REG,REG,ADDR,REL,BNC" {
		t.Fatalf("whole history: %s", types(whole.Creds))
	}

	seen := map[string]bool{}
	var stepwise []Credential
	prev := Window{PrevEventID: 0, PrevEventDate: at(1, 1, 1, 0, 0)}
	for _, id := range order {
		e := full.Events[id]
		w := Window{PrevEventID: prev.PrevEventID, PrevEventDate: prev.PrevEventDate, LastEventID: id, LastEventDate: e.Timestamp}
		r := Generate(asOf(full, e.Timestamp), w, e.Timestamp.Add(time.Hour), pacific.Tz2024b)
		mustOK(t, r)
		for _, c := range r.Creds {
			if !seen[c.Hash] { // the unique index on credential_hash
				seen[c.Hash] = true
				stepwise = append(stepwise, c)
			}
		}
		prev = Window{PrevEventID: id, PrevEventDate: e.Timestamp}
	}
	hashes := func(cs []Credential) []string {
		var h []string
		for _, c := range cs {
			h = append(h, c.TypeCd+" "+c.Hash)
		}
		slices.Sort(h)
		return h
	}
	if a, b := hashes(whole.Creds), hashes(stepwise); !slices.Equal(a, b) {
		t.Errorf("whole history and window by window differ:\n whole    %v\n stepwise %v", a, b)
		for _, c := range whole.Creds {
			t.Logf("whole    %s", c.JSON)
		}
		for _, c := range stepwise {
			t.Logf("stepwise %s", c.JSON)
		}
	}
	// The REG history comes out in the same order either way.
	var wr, sr []string
	for _, c := range whole.Creds {
		if c.TypeCd == "REG" {
			wr = append(wr, c.Hash)
		}
	}
	for _, c := range stepwise {
		if c.TypeCd == "REG" {
			sr = append(sr, c.Hash)
		}
	}
	if !slices.Equal(wr, sr) {
		t.Errorf("REG order differs")
	}
	// Spot-check the assumed-name REG (third): effective 2009-09-09 10:00
	// PDT, first name replaced by the second from 2003-03-03 10:00 PST.
	a := whole.Creds[2].Attrs
	if a["entity_name"] != "SECOND LTD." || a["entity_name_effective"] != "2003-03-03T18:00:00+00:00" ||
		a["entity_name_assumed"] != "ALSO KNOWN LTD." || a["entity_name_assumed_effective"] != "2009-09-09T17:00:00+00:00" ||
		a["effective_date"] != "2009-09-09T17:00:00+00:00" || a["entity_status"] != "ACT" {
		t.Errorf("third REG: %v", a)
	}
}

// Bad and odd source data: each case gives a documented field value, a
// warning, or a Held message naming the corp — never a panic.
func TestBadInput(t *testing.T) {
	base := func() *corpB {
		recog := at(2000, 1, 1, 0, 0)
		return corp("0101010", "BC", "BC", &recog).
			ev(1, "FILE", recog, filing("ICORP", nil)).
			name("CO", 1, 1, nil, "BASE LTD.").
			state(1, nil, "ACT", "ACT")
	}
	long := strings.Repeat("X", 299) + "Z"
	for _, tc := range []struct {
		name  string
		mod   func(b *corpB)
		check func(t *testing.T, r Result)
	}{
		{"name names a missing event", func(b *corpB) { b.name("CO", 2, 99, nil, "X") }, held("corp 0101010", "event 99")},
		{"state end names a missing event", func(b *corpB) { b.c.States[0].End = ptr[int64](98) }, held("state ACT end", "event 98")},
		{"FILE event without its filing starts a name", func(b *corpB) {
			b.ev(2, "FILE", at(2001, 1, 1, 0, 0)).name("CO", 2, 2, nil, "X")
			b.c.Names[0].End = ptr[int64](2)
		}, held("FILE event without a filing")},
		{"corp type without a corp_type row", func(b *corpB) { b.c.Class = "" }, held(`corp type "BC" has no corp_type row`)},
		{"office pointing at a missing address", func(b *corpB) {
			b.c.Offices = append(b.c.Offices, model.Office{TypeCd: "RG", Start: 1, DeliveryAddrID: ptr[int64](77)})
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			if types(r.Creds) != "REG" || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "delivery address 77 is missing") {
				t.Errorf("creds %s warnings %v", types(r.Creds), r.Warnings)
			}
		}},
		{"office without a delivery address", func(b *corpB) { b.c.Offices = append(b.c.Offices, model.Office{TypeCd: "RG", Start: 1}) },
			func(t *testing.T, r Result) {
				mustOK(t, r)
				if types(r.Creds) != "REG" || len(r.Warnings) != 0 {
					t.Errorf("creds %s warnings %v", types(r.Creds), r.Warnings)
				}
			}},
		{"office types other than RG HD FO are not read", func(b *corpB) {
			b.office("DS", 1, nil, addr(5, "L", "C", "P", "Z", "CA"))
		}, func(t *testing.T, r Result) {
			if types(r.Creds) != "REG" {
				t.Errorf("creds %s", types(r.Creds))
			}
		}},
		{"address without a first line uses its description; none at all is empty", func(b *corpB) {
			b.office("HD", 1, nil, &model.Address{ID: 6, AddressDesc: ptr("GENERAL DELIVERY")})
			b.office("FO", 1, nil, &model.Address{ID: 7})
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			if types(r.Creds) != "REG,ADDR,ADDR" || r.Creds[1].Attrs["civic_address"] != "GENERAL DELIVERY" || r.Creds[2].Attrs["civic_address"] != "" || r.Creds[2].Attrs["country"] != "" {
				t.Errorf("creds %s %v", types(r.Creds), r.Creds)
			}
		}},
		{"ended office expires at its end event", func(b *corpB) {
			b.ev(2, "FILE", at(2002, 2, 2, 0, 0), filing("NOCAD", nil)).office("RG", 1, ptr[int64](2), addr(8, "L1", "CITY", "BC", "V1V1V1", "CA"))
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			if types(r.Creds) != "REG,ADDR" || r.Creds[1].Attrs["expiry_date"] != "2002-02-02T08:00:00+00:00" {
				t.Errorf("creds %s %v", types(r.Creds), r.Creds)
			}
		}},
		{"NULL corp_nme is null in the JSON", func(b *corpB) { b.c.Names[0].Name = nil }, func(t *testing.T, r Result) {
			mustOK(t, r)
			if !strings.Contains(r.Creds[0].JSON, `"entity_name": null, `) || r.Creds[0].Attrs["entity_name"] != "" {
				t.Errorf("JSON %s", r.Creds[0].JSON)
			}
		}},
		{"recognition in year 1: registration dates empty, BNC clamped", func(b *corpB) {
			b.c.RecognitionDts = ptr(at(1, 1, 1, 0, 0))
			b.bn("123")
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			// The first ACT state takes recognition_dts as its start, so
			// year 1 is a REG date of its own, before the name existed.
			// filter_min_date empties dates before year 11; effective_date
			// and the BNC's recognition_dts are unfiltered, and pytz
			// cannot localize year 1: the encoder's MIN_START_DATE clamp.
			if types(r.Creds) != "REG,REG,BNC" {
				t.Fatalf("creds %s", types(r.Creds))
			}
			a, b := r.Creds[0].Attrs, r.Creds[1].Attrs
			if a["effective_date"] != "0002-01-01T07:53:00+00:00" || a["entity_name"] != "" || a["registration_date"] != "" || a["entity_status_effective"] != "" {
				t.Errorf("first REG %v", a)
			}
			if b["effective_date"] != "2000-01-01T08:00:00+00:00" || b["entity_name"] != "BASE LTD." || b["entity_status"] != "ACT" || b["entity_status_effective"] != "" {
				t.Errorf("second REG %v", b)
			}
			if r.Creds[2].Attrs["effective_date"] != "0002-01-01T07:53:00+00:00" {
				t.Errorf("BNC %v", r.Creds[2].Attrs)
			}
		}},
		{"event in year 1 is clamped in effective_date, filtered elsewhere", func(b *corpB) {
			b.c.RecognitionDts = nil
			b.c.Events[1].Timestamp = at(1, 1, 1, 0, 0)
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			a := r.Creds[0].Attrs
			if a["effective_date"] != "0002-01-01T07:53:00+00:00" || a["entity_name_effective"] != "" || a["registration_date"] != "" {
				t.Errorf("REG %v", a)
			}
		}},
		{"event in year 9999 is in the future", func(b *corpB) {
			b.ev(2, "FILE", at(9999, 12, 31, 23, 59), filing("XXX", nil)).state(2, nil, "HDS", "HIS")
			b.c.States[0].End = ptr[int64](2)
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			if types(r.Creds) != "REG" || r.Requeue == nil || r.Requeue.LastEventID != 2 || r.Requeue.LastEventDate != at(9999, 12, 31, 23, 59) {
				t.Errorf("creds %s requeue %+v", types(r.Creds), r.Requeue)
			}
		}},
		{"state code unknown to corp_op_state is dropped", func(b *corpB) { b.c.States[0].OpState = "" }, func(t *testing.T, r Result) {
			mustOK(t, r)
			// No state row left: its event is not in the list, the name's is.
			if r.CorpState != "N/A" || types(r.Creds) != "REG" || r.Creds[0].Attrs["entity_status"] != "" {
				t.Errorf("state %s creds %v", r.CorpState, r.Creds)
			}
		}},
		{"firm row missing: no REL", func(b *corpB) {
			b.ev(3, "FILE", at(2003, 1, 1, 0, 0), filing("FRREG", nil))
			b.c.Parties = append(b.c.Parties, model.Party{ID: 1, CorpNum: "FM9", PartyTypCd: "FBO", Start: 3})
		}, func(t *testing.T, r Result) {
			if types(r.Creds) != "REG" {
				t.Errorf("creds %s", types(r.Creds))
			}
		}},
		{"a party that is not FBO gives nothing and its events are not needed", func(b *corpB) {
			b.c.Parties = append(b.c.Parties, model.Party{ID: 2, CorpNum: b.c.Num, PartyTypCd: "DIR", Start: 1234})
		}, func(t *testing.T, r Result) {
			mustOK(t, r)
			if types(r.Creds) != "REG" {
				t.Errorf("creds %s", types(r.Creds))
			}
		}},
		{"trigger_dts only counts for firms", func(b *corpB) { b.c.Events[1].Trigger = ptr(at(1980, 1, 1, 0, 0)) }, func(t *testing.T, r Result) {
			if r.Creds[0].Attrs["effective_date"] != "2000-01-01T08:00:00+00:00" {
				t.Errorf("REG %v", r.Creds[0].Attrs)
			}
		}},
		{"reason longer than 255 is cut as the original cut it", func(b *corpB) { b.c.Events[1].FilingTypeCd = long }, func(t *testing.T, r Result) {
			want := ("Filing:" + long)[:251] + "...Z"
			if r.Creds[0].Reason != want || len(want) != 255 {
				t.Errorf("reason %q", r.Creds[0].Reason)
			}
		}},
		{"no rows at all", func(b *corpB) { b.c.Names, b.c.States = nil, nil }, func(t *testing.T, r Result) {
			mustOK(t, r)
			if len(r.Creds) != 0 || r.CorpState != "N/A" || r.Requeue != nil {
				t.Errorf("%+v", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			tc.mod(b)
			tc.check(t, Generate(b.c, all, now, pacific.Tz2024b))
		})
	}
}

func held(parts ...string) func(t *testing.T, r Result) {
	return func(t *testing.T, r Result) {
		t.Helper()
		if len(r.Creds) != 0 || r.Skip != "" {
			t.Errorf("held corp has creds %s / skip %q", types(r.Creds), r.Skip)
		}
		for _, p := range parts {
			if !strings.Contains(r.Held, p) {
				t.Errorf("Held %q does not say %q", r.Held, p)
			}
		}
		if strings.Contains(r.Held, "runtime error") {
			t.Errorf("Held hides a panic: %s", r.Held)
		}
	}
}

// Random corps with dangling references, nulls and dates across the whole
// range: Generate never panics, is deterministic, and every credential is
// valid JSON with its hash and an effective date.
func TestRandomCorpsNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	date := func() time.Time {
		if rng.IntN(10) == 0 {
			return at(1+rng.IntN(9999), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
		}
		return at(1950+rng.IntN(80), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
	}
	optDate := func() *time.Time {
		if rng.IntN(3) == 0 {
			return nil
		}
		return ptr(date())
	}
	ref := func() int64 { return int64(1 + rng.IntN(12)) } // events 1..10 exist, 11 and 12 do not
	optRef := func() *int64 {
		if rng.IntN(2) == 0 {
			return nil
		}
		return ptr(ref())
	}
	optStr := func(s string) *string {
		if rng.IntN(4) == 0 {
			return nil
		}
		return &s
	}
	typesIn := []string{"BC", "ULC", "A", "SP", "MF", "XP", "GP", "FI"}
	classes := []string{"BC", "XPRO", "FIRM", ""}
	evTypes := []string{"FILE", "CONVL", "ADMIN", "SYSDF", "CONVICORP"}
	held, made := 0, 0
	for i := range 400 {
		c := &model.Corp{Num: "X" + string(rune('0'+i%10)), TypeCd: typesIn[rng.IntN(len(typesIn))], Class: classes[rng.IntN(len(classes))],
			RecognitionDts: optDate(), BN9: optStr("  555 "), Events: map[int64]*model.Event{}}
		for id := int64(1); id <= 10; id++ {
			e := &model.Event{ID: id, TypeCd: evTypes[rng.IntN(len(evTypes))], Timestamp: date(), Trigger: optDate(), ConvEffective: optDate()}
			if rng.IntN(5) == 0 {
				e.Timestamp = at(2004, 3, 26, rng.IntN(24), 0)
			}
			if e.TypeCd == "FILE" && rng.IntN(4) != 0 {
				e.FilingTypeCd = []string{"ICORP", "NOALU", "ANNBC"}[rng.IntN(3)]
				e.FilingEffective = optDate()
			}
			c.Events[id] = e
		}
		for range rng.IntN(4) {
			c.Names = append(c.Names, model.Name{TypeCd: []string{"CO", "NB", "AS", "TR"}[rng.IntN(4)], Seq: rng.IntN(5), Start: ref(), End: optRef(), Name: optStr("N \u00e9 😀")})
		}
		for range rng.IntN(4) {
			c.States = append(c.States, model.State{Start: ref(), End: optRef(), StateTypCd: []string{"ACT", "HIS", "HWT", "D1A"}[rng.IntN(4)], OpState: []string{"ACT", "HIS", ""}[rng.IntN(3)]})
		}
		for range rng.IntN(3) {
			c.Jurisdictions = append(c.Jurisdictions, model.Jurisdiction{Start: ref(), End: optRef(), CanJurTypCd: []string{"OT", "ON", "FD"}[rng.IntN(3)], OthrJurisDesc: optStr("US")})
		}
		for range rng.IntN(3) {
			var a *model.Address
			if rng.IntN(3) > 0 {
				a = &model.Address{ID: 1, Line1: optStr("L1"), Line2: optStr("L2"), City: optStr("C"), AddressDesc: optStr("D")}
			}
			c.Offices = append(c.Offices, model.Office{TypeCd: []string{"RG", "HD", "FO", "DS"}[rng.IntN(4)], Start: ref(), End: optRef(), Delivery: a, DeliveryAddrID: optRef()})
		}
		for p := range rng.IntN(4) {
			var other *model.CorpRef
			if rng.IntN(4) > 0 {
				other = &model.CorpRef{Num: "F" + string(rune('0'+p)), TypeCd: []string{"SP", "MF", "BC"}[rng.IntN(3)], RecognitionDts: optDate()}
			}
			num := "F" + string(rune('0'+p))
			if rng.IntN(4) == 0 {
				num = c.Num
			}
			c.Parties = append(c.Parties, model.Party{ID: int64(p), CorpNum: num, PartyTypCd: []string{"FBO", "DIR"}[rng.IntN(2)], Start: ref(), End: optRef(), Other: other})
		}
		w := Window{PrevEventDate: at(1+rng.IntN(2030), 1, 1, 0, 0), LastEventDate: date()}
		r1 := Generate(c, w, now, pacific.Tz2024b)
		r2 := Generate(c, w, now, pacific.Tz2024b)
		if strings.Contains(r1.Held, "runtime error") || strings.Contains(r1.Held, "internal") {
			t.Fatalf("corp %d: panic turned into Held: %s", i, r1.Held)
		}
		if r1.Held != r2.Held || len(r1.Creds) != len(r2.Creds) {
			t.Fatalf("corp %d: not deterministic", i)
		}
		if r1.Held != "" {
			held++
		}
		for j, cr := range r1.Creds {
			made++
			if cr.JSON != r2.Creds[j].JSON || cr.Hash != Hash(cr.JSON) || !json.Valid([]byte(cr.JSON)) {
				t.Fatalf("corp %d cred %d: bad JSON/hash %s", i, j, cr.JSON)
			}
			if cr.Attrs["effective_date"] == "" {
				t.Fatalf("corp %d cred %d: stored without an effective date", i, j)
			}
			if cr.TypeCd == "ADDR" != cr.Held {
				t.Fatalf("corp %d cred %d: Held %v for %s", i, j, cr.Held, cr.TypeCd)
			}
		}
	}
	if held == 0 || made == 0 {
		t.Errorf("the random corps exercised too little: %d held, %d credentials", held, made)
	}
	t.Logf("%d held corps, %d credentials", held, made)
}

// BenchmarkGenerate: one corp with five events, an office, a firm and a
// business number, the size of a typical registry corp.
func BenchmarkGenerate(b *testing.B) {
	c := historyCorp()
	w := Window{PrevEventDate: at(1, 1, 1, 0, 0), LastEventID: 4, LastEventDate: now}
	for b.Loop() {
		if r := Generate(c, w, now, pacific.Tz2024b); len(r.Creds) != 7 {
			b.Fatal(types(r.Creds))
		}
	}
}
