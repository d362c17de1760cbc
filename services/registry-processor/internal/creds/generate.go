package creds

import (
	"fmt"
	"strings"
	"time"

	"tributary.dev/services/registry-processor/internal/creds/pyjson"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// val is a Python value in a credential dict: a str, a naive datetime
// (printed by the encoder only when the JSON is made) or None. Keeping
// datetimes as datetimes matters: the original compares dicts before
// printing them, and compares effective dates as datetimes.
type val struct {
	k kind
	s string
	t time.Time
}

type kind uint8

const (
	kStr kind = iota
	kTime
	kNull
)

func str(s string) val   { return val{k: kStr, s: s} }
func tm(t time.Time) val { return val{k: kTime, t: t} }

// strPtr is a nullable column copied as it is: NULL stays None.
func strPtr(p *string) val {
	if p == nil {
		return val{k: kNull}
	}
	return str(*p)
}

func (v val) eq(o val) bool {
	if v.k != o.k {
		return false
	}
	switch v.k {
	case kStr:
		return v.s == o.s
	case kTime:
		return v.t.Equal(o.t)
	}
	return true
}

// less is Python's < on two effective dates; a str against a datetime is
// a TypeError there, an error here.
func (v val) less(o val) (bool, error) {
	switch {
	case v.k == kTime && o.k == kTime:
		return v.t.Before(o.t), nil
	case v.k == kStr && o.k == kStr:
		return v.s < o.s, nil
	}
	return false, fmt.Errorf("cannot compare effective dates %v and %v", v.text(pacific.Pre2024b), o.text(pacific.Pre2024b))
}

func (v val) text(dates pacific.Rules) *string {
	switch v.k {
	case kNull:
		return nil
	case kTime:
		s := dates.ISO(v.t)
		return &s
	}
	return &v.s
}

// filterMin is filter_min_date on a datetime.
func filterMin(t time.Time) val {
	if t.Before(pacific.MinValid) {
		return str("")
	}
	return tm(t)
}

func filterMinPtr(t *time.Time) val {
	if t == nil {
		return str("")
	}
	return filterMin(*t)
}

type rawCred struct {
	typ, schema, id, reason string
	held                    bool
	attrs                   map[string]val
}

func (rc *rawCred) finish(dates pacific.Rules) Credential {
	texts := make(map[string]*string, len(rc.attrs))
	attrs := make(map[string]string, len(rc.attrs))
	for k, v := range rc.attrs {
		t := v.text(dates)
		texts[k] = t
		if t != nil {
			attrs[k] = *t
		} else {
			attrs[k] = ""
		}
	}
	js := pyjson.DumpsNullable(texts)
	return Credential{
		TypeCd: rc.typ, ID: rc.id, Schema: rc.schema, Version: SchemaVersion,
		JSON: js, Hash: pyjson.Hash(js), Reason: rc.reason, Held: rc.held, Attrs: attrs,
	}
}

func sameAttrs(a, b map[string]val) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.eq(w) {
			return false
		}
	}
	return true
}

// reasonCode is build_corp_reason_code.
func reasonCode(e *event) string {
	r := "Event:" + e.typ
	if e.filing != "" {
		r = "Filing:" + e.filing
	}
	if rs := []rune(r); len(rs) > 255 {
		r = string(rs[:251]) + "..." + string(rs[len(rs)-1])
	}
	return r
}

// recAt is corp_rec_at_effective_date: the row in force at the event's
// effective date.
func recAt(recs []*rec, e *event) *rec {
	d := e.eff
	var found *rec
	for _, r := range recs {
		if r.effStart.After(r.effEnd) {
			continue // start after end: ignored
		}
		if r.effStart.After(d) || !r.effEnd.After(d) {
			continue
		}
		switch {
		case r.endID == nil:
			return r // the open row wins
		case found == nil:
			found = r
		case r.effStart.After(found.effStart):
			found = r
		case r.effStart.Equal(found.effStart) && r.effEnd.After(found.effEnd):
			found = r
		}
	}
	if found == nil && len(recs) > 0 && recs[0].start.isConversion() && recs[0].effStart.Equal(recs[0].start.eff) {
		found = recs[0]
	}
	return found
}

var noticeOfAlteration = map[string]bool{"NOALB": true, "NOALC": true, "NOALD": true, "NOALE": true, "NOALR": true, "NOALU": true}

// homeJurisdiction is get_corp_jurisdiction.
func (g *corpInfo) homeJurisdiction(j *rec) string {
	t := g.c.TypeCd
	switch {
	case g.c.Class == "BC":
		return "BC"
	case g.c.Class == "XPRO" || t == "XP" || t == "XL" || t == "XCP" || t == "XS":
		if j == nil {
			return ""
		}
		if j.jur.CanJurTypCd == "OT" {
			if j.jur.OthrJurisDesc != nil {
				return *j.jur.OthrJurisDesc
			}
			return "OT"
		}
		return j.jur.CanJurTypCd
	}
	return "BC"
}

// convDated is the original's "conversion-dated" test on a row: its start
// is a conversion event and its effective start is that event's
// timestamp, i.e. no better date was found.
func convDated(r *rec) bool {
	return r.start.isConversion() && r.effStart.Equal(r.start.ts)
}

func (g *corpInfo) generate(events []*event, w Window) ([]*rawCred, []string, error) {
	c := g.c
	regID := RegistrationID(c.Num, c.TypeCd)
	var out []*rawCred
	var warnings []string

	// REG: one per distinct effective date.
	for i, e := range events {
		last := i == len(events)-1
		if !last && e.isConversion() && e.ts.Equal(e.eff) {
			continue // a conversion event with nothing better to date it
		}
		if w.PrevEventDate.After(e.ts) {
			continue // before the window
		}
		if c.Class == "" {
			// corp_type lookup found no row: the original fails on
			// corp_type['corp_typ_cd'].
			return nil, warnings, fmt.Errorf("corp type %q has no corp_type row", c.TypeCd)
		}
		a := map[string]val{
			"registration_id":          str(regID),
			"registration_date":        filterMinPtr(c.RecognitionDts),
			"registration_expiry_date": str(""),
			"entity_type":              str(c.TypeCd),
		}
		name := recAt(g.names, e)
		if name != nil {
			a["entity_name"] = strPtr(name.name)
			if convDated(name) && !last {
				a["entity_name_effective"] = str("")
			} else {
				a["entity_name_effective"] = filterMin(name.effStart)
			}
		} else {
			a["entity_name"], a["entity_name_effective"] = str(""), str("")
		}
		if as := recAt(g.assumed, e); as != nil {
			a["entity_name_assumed"] = strPtr(as.name)
			if convDated(as) {
				a["entity_name_assumed_effective"] = str("")
			} else {
				a["entity_name_assumed_effective"] = filterMin(as.effStart)
			}
		} else {
			a["entity_name_assumed"], a["entity_name_assumed_effective"] = str(""), str("")
		}
		if st := recAt(g.states, e); st != nil {
			a["entity_status"] = str(st.opState)
			if convDated(st) {
				a["entity_status_effective"] = str("")
			} else {
				a["entity_status_effective"] = filterMin(st.effStart)
			}
		} else {
			a["entity_status"], a["entity_status_effective"] = str(""), str("")
		}
		j := recAt(g.jurs, e)
		home := g.homeJurisdiction(j)
		a["home_jurisdiction"] = str(home)
		a["registered_jurisdiction"] = str("")
		if home != "" && home != "BC" {
			a["registered_jurisdiction"] = str("BC")
		}
		a["extra_jurisdictional_registration"] = str("")
		var jurEff *val
		if j != nil && !convDated(j) {
			v := filterMin(j.effStart)
			jurEff = &v
		}
		eff := tm(e.eff)
		if eff.k == kStr && eff.s == "" {
			eff = a["registration_date"]
		}
		if eff.k == kStr && eff.s == "" && jurEff != nil {
			eff = *jurEff
		}
		a["effective_date"] = eff

		if name != nil && name.start.typ == "FILE" {
			if name.start.filing == "" {
				// The original reads filing['filing_typ_cd'] of a FILE
				// event and fails when the filing row is missing.
				return nil, warnings, fmt.Errorf("name start event %d is a FILE event without a filing", name.start.id)
			}
			if noticeOfAlteration[name.start.filing] {
				// A notice of alteration: earlier credentials lose the
				// entity type.
				for _, prev := range out {
					lt, err := prev.attrs["effective_date"].less(eff)
					if err != nil {
						return nil, warnings, err
					}
					if lt {
						prev.attrs["entity_type"] = str("")
					}
				}
			}
		}
		a["expiry_date"] = str("")
		a["registration_renewal_effective"] = str("")
		a["entity_name_trans"] = str("")
		a["entity_name_trans_effective"] = str("")

		// Sorted by date, so comparing with the previous credential is
		// enough to drop repeats.
		if len(out) > 0 && sameAttrs(out[len(out)-1].attrs, a) {
			continue
		}
		out = append(out, &rawCred{typ: TypeREG, schema: SchemaREG, id: c.Num, reason: reasonCode(e), attrs: a})
	}

	inWindow := func(r *rec) bool {
		if !w.PrevEventDate.After(r.start.ts) && !r.start.ts.After(w.LastEventDate) {
			return true
		}
		return r.end != nil && !w.PrevEventDate.After(r.end.ts) && !r.end.ts.After(w.LastEventDate)
	}
	expiry := func(r *rec) val {
		if r.end != nil && !r.end.eff.After(g.now) {
			return tm(r.effEnd)
		}
		return str("")
	}

	// ADDR: generated and held back, never posted. Offices by effective
	// start (stable).
	offices := stableByEffStart(g.offices)
	for _, o := range offices {
		if !inWindow(o) {
			continue
		}
		addr := o.office.Delivery
		if addr == nil {
			if o.office.DeliveryAddrID != nil {
				warnings = append(warnings, fmt.Sprintf("corp %s: office %s delivery address %d is missing; no address credential", c.Num, o.office.TypeCd, *o.office.DeliveryAddrID))
			}
			continue
		}
		a := map[string]val{"registration_id": str(regID), "addressee": str(""), "address_type": str(o.office.TypeCd)}
		if len(g.names) > 0 {
			if n := recAt(g.names, o.start); n != nil && n.name != nil {
				a["addressee"] = str(*n.name)
			}
		}
		a["civic_address"] = str(localAddr(addr.Line1, addr.Line2, addr.Line3, addr.City, addr.Province, addr.PostalCd, addr.CountryTypCd, addr.AddressDesc))
		a["municipality"] = str(deref(addr.City))
		a["province"] = str(deref(addr.Province))
		a["postal_code"] = str(deref(addr.PostalCd))
		a["country"] = str(deref(addr.CountryTypCd))
		a["address_effective_date"] = filterMin(o.effStart)
		a["effective_date"] = a["address_effective_date"]
		a["expiry_date"] = expiry(o)
		out = append(out, &rawCred{typ: TypeADDR, schema: SchemaADDR, id: c.Num + "," + o.office.TypeCd, reason: reasonCode(o.start), held: true, attrs: a})
	}

	// REL: the owner side of a firm's FBO row. The firm side ("IsOwned")
	// never happens in COLIN-2022: it needs the owner's details, which the
	// original only looked up for a corp of type FBO.
	owns := func(p *rec) bool {
		return inWindow(p) && p.party.CorpNum != c.Num && p.party.Other != nil &&
			(p.party.Other.TypeCd == "SP" || p.party.Other.TypeCd == "MF")
	}
	count := map[string]int{}
	for _, p := range g.parties {
		if owns(p) {
			count[p.party.CorpNum]++
		}
	}
	for _, p := range g.parties {
		if !owns(p) {
			continue
		}
		firm := p.party.Other
		a := map[string]val{
			"registration_id":              str(regID),
			"associated_registration_id":   str(RegistrationID(firm.Num, firm.TypeCd)),
			"relationship":                 str("Owns"),
			"relationship_description":     str("Does Business As"),
			"associated_registration_name": str(""),
			"relationship_status":          str("ACT"),
		}
		eff := tm(p.effStart)
		if p.start.typ == "ADMIN" && count[firm.Num] == 1 && firm.RecognitionDts != nil {
			// An administrative start on the only row for that firm: the
			// firm's registration date says more.
			eff = tm(*firm.RecognitionDts)
		}
		a["effective_date"] = eff
		a["relationship_status_effective"] = filterMin(eff.t)
		a["expiry_date"] = expiry(p)
		out = append(out, &rawCred{typ: TypeREL, schema: SchemaREL, id: regID, reason: reasonCode(p.start), attrs: a})
	}

	// BNC: when the corp has a business number.
	if c.BN9 != nil && *c.BN9 != "" {
		eff := tm(events[0].eff)
		if c.RecognitionDts != nil {
			eff = tm(*c.RecognitionDts)
		}
		out = append(out, &rawCred{typ: TypeBNC, schema: SchemaBNC, id: regID, attrs: map[string]val{
			"registration_id": str(regID),
			"business_number": str(pyStrip(*c.BN9)),
			"effective_date":  eff,
			"expiry_date":     str(""),
		}})
	}
	return out, warnings, nil
}

func stableByEffStart(recs []*rec) []*rec {
	out := append([]*rec(nil), recs...)
	// insertion sort: stable, and office lists are short
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].effStart.Before(out[j-1].effStart); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// localAddr is the original's address['local_addr']: the non-null parts
// joined by ", " when there is a first line, else the description.
func localAddr(l1, l2, l3, city, prov, postal, country, desc *string) string {
	if l1 == nil {
		return deref(desc)
	}
	var b strings.Builder
	for _, p := range []*string{l1, l2, l3, city, prov, postal} {
		if p != nil {
			b.WriteString(*p)
			b.WriteString(", ")
		}
	}
	b.WriteString(deref(country))
	return b.String()
}

// pyStrip is Python's str.strip(): Unicode white space, and the four
// information separators 0x1c-0x1f that Python also counts.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680,
			0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
			return true
		}
		return r >= 0x2000 && r <= 0x200a
	})
}
