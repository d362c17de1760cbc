package testdata

import (
	"math/rand/v2"
	"time"
)

// builder turns plans into rows. Address and party ids are handed out in
// corp order, so they are deterministic too.
type builder struct {
	g     *gen
	t     *tables
	addr  int64 // last address id used
	party int64 // last corp_party id used
}

type nameRow struct {
	typ   string
	start int64
	end   *int64
	seq   int64
	nme   *string
}

type stateRow struct {
	start int64
	end   *int64
	cd    string
}

type jurRow struct {
	start   int64
	end     *int64
	cd      string
	othr    string
	recogn  *time.Time
	num     string
	company string
}

type officeRow struct {
	typ       string
	start     int64
	end       *int64
	mail, del *int64
}

// diss is the state a dissolving event leaves the corp in.
func dissState(e pev, r *rand.Rand) string {
	switch e.fil {
	case "XPWDL":
		return "HWT"
	case "AMALH":
		return "HAM"
	case "CONTO":
		return "HCO"
	case "DISLV", "FRDIS":
		return "HDV"
	}
	if e.typ == "CONVL" {
		return pick(r, []string{"HDV", "D1F", "HLD"})
	}
	return "D1F"
}

func officeTypesFor(ct *corpType, r *rand.Rand) []string {
	switch ct.class {
	case "BC":
		return []string{"RG", "RC"}
	case "XPRO":
		o := []string{"HD"}
		if r.Float64() < 0.4 {
			o = append(o, "RG")
		}
		if r.Float64() < 0.2 {
			o = append(o, "AO")
		}
		return o
	case "FIRM":
		if isXpro(ct) {
			return []string{"HD", "FO"}
		}
		return []string{"FO"}
	case "COOP":
		return []string{"RG", "RC"}
	}
	return []string{"RG"}
}

func (b *builder) corp(i int, p plan, ev []int64) {
	g, t := b.g, b.t
	r := g.rng(i, 3)
	ct := p.typ
	firm := ct.class == "FIRM"

	var lastAR *time.Time
	for k, e := range p.events {
		t.event.int(ev[k]).str(p.num).str(e.typ).ts(e.ts).tsp(e.trig).end()
		switch {
		case e.typ == "FILE":
			var period *time.Time
			if e.fil == "ANNBC" {
				v := e.ts.AddDate(0, -1, 0)
				period, lastAR = &v, &p.events[k].ts
			}
			nr := ""
			if e.kind == kName || e.kind == kCreate {
				nr = "NR" + digits(r, 7)
			}
			t.filing.int(ev[k]).str(e.fil).tsp(e.eff).null().null().tsp(period).null().opt(nr).null().end()
		case len(e.typ) > 4 && e.typ[:4] == "CONV":
			day := e.ts.Truncate(24 * time.Hour)
			t.conv.int(ev[k]).tsp(e.eff).str("Y").str("N").str("CONVERSION").ts(day).null().null().null().null().end()
		}
	}

	var bn9, bn15 string
	if (ct.class == "BC" || ct.class == "XPRO" || firm) && r.Float64() < 0.55 {
		bn9 = digits(r, 9)
		if r.Float64() < 0.8 {
			bn15 = bn9 + "BC0001"
		}
	}
	t.corporation.str(p.num).str(ct.cd).tsp(p.rec).tsp(lastAR).opt(bn9).opt(bn15).null().null().end()

	var (
		names   []nameRow
		states  []stateRow
		jurs    []jurRow
		offices []officeRow
		legal   = -1 // index of the open CO/NB name
		assumed = -1 // index of the open AS name
		seq     int64
		jurCd   string
		othr    string
	)
	addName := func(typ string, start int64, nme string) int {
		seq++
		n := nameRow{typ: typ, start: start, seq: seq}
		if r.Float64() >= 0.002 { // a few names are null
			n.nme = &nme
		}
		names = append(names, n)
		return len(names) - 1
	}
	endAt := func(end **int64, id int64) { v := id; *end = &v }
	newJur := func(start int64) {
		jurCd = pick(r, []string{"ON", "ON", "AB", "AB", "FD", "FD", "OT", "OT", "OT", "MB", "QC", "SK", "NS", "BC"})
		othr = ""
		if jurCd == "OT" {
			othr = pick(r, othrJuris)
		}
		var recogn *time.Time
		if r.Float64() < 0.8 {
			v := p.created.AddDate(-r.IntN(30), 0, -r.IntN(300))
			recogn = &v
		}
		jurs = append(jurs, jurRow{start: start, cd: jurCd, othr: othr, recogn: recogn, num: digits(r, 7), company: g.baseName(i)})
	}
	newOffice := func(typ string, start int64) {
		o := officeRow{typ: typ, start: start}
		pl := place{}
		if typ == "HD" {
			pl = placeFor(r, jurCd, othr)
		} else {
			pl = placeFor(r, "BC", "")
		}
		if r.Float64() >= 0.01 {
			b.addr++
			id := b.addr
			o.mail = &id
			writeAddress(t.address, r, id, pl)
		}
		b.addr++
		id := b.addr
		o.del = &id
		// A few offices point at an address id no row has: the broken
		// link the processor must report, not crash on.
		if r.Float64() >= 0.003 {
			writeAddress(t.address, r, id, pl)
		}
		offices = append(offices, o)
	}
	var created int64 // the corp's first event id
	var admin, dissEv int64
	for k, e := range p.events {
		id := ev[k]
		switch e.kind {
		case kCreate:
			created = id
			if ct.class == "BC" && r.Float64() < 0.25 {
				legal = addName("NB", id, p.num[len(p.num)-7:]+" B.C. LTD.")
			} else {
				legal = addName("CO", id, g.baseName(i))
			}
			states = append(states, stateRow{start: id, cd: "ACT"})
			if isXpro(ct) {
				newJur(id)
			}
			for _, typ := range officeTypesFor(ct, r) {
				newOffice(typ, id)
			}
		case kConvName, kName:
			if legal >= 0 {
				endAt(&names[legal].end, id)
			}
			legal = addName("CO", id, newName(r, ct.class))
		case kAssumed:
			if assumed >= 0 {
				endAt(&names[assumed].end, id)
			}
			assumed = addName("AS", id, newName(r, ct.class))
		case kAddr:
			n := len(offices)
			for o := range n {
				if offices[o].end == nil && (o == 0 || r.Float64() < 0.5) {
					endAt(&offices[o].end, id)
					newOffice(offices[o].typ, id)
				}
			}
		case kJur:
			endAt(&jurs[len(jurs)-1].end, id)
			newJur(id)
		case kAdmin:
			admin = id
		case kWarn, kDiss, kRestore:
			cd := "ACT"
			if e.kind == kWarn {
				cd = "D1A"
			} else if e.kind == kDiss {
				cd, dissEv = dissState(e, r), id
			}
			endAt(&states[len(states)-1].end, id)
			states = append(states, stateRow{start: id, cd: cd})
		}
	}

	for _, n := range names {
		var srch *string
		if n.nme != nil {
			s := srchName(*n.nme)
			srch = &s
		}
		t.name.str(p.num).str(n.typ).int(n.start).intp(n.end).int(n.seq).strp(srch).strp(n.nme).null().end()
	}
	for _, s := range states {
		t.state.str(p.num).int(s.start).intp(s.end).str(s.cd).null().end()
	}
	for _, j := range jurs {
		t.juris.str(p.num).int(j.start).intp(j.end).str(j.cd).null().tsp(j.recogn).opt(j.othr).str(j.num).null().str(j.company).end()
	}
	for _, o := range offices {
		t.office.str(p.num).str(o.typ).int(o.start).intp(o.end).intp(o.mail).intp(o.del).null().null().end()
	}

	// Parties: firms owned by corps (FBO, the REL credentials), people
	// owning the other firms, and some directors the processor ignores.
	switch {
	case (ct.cd == "SP" || ct.cd == "GP" || ct.cd == "MF") && r.Float64() < 0.35:
		owners := 1
		if ct.cd == "GP" && r.Float64() < 0.3 {
			owners = 2
		}
		for range owners {
			j, ok := b.owner(r)
			if !ok {
				break
			}
			start := created
			if admin != 0 && r.Float64() < 0.5 {
				start = admin
			}
			var end *int64
			var cess *time.Time
			if dissEv != 0 && r.Float64() < 0.7 {
				end = &dissEv
				for k := range p.events {
					if ev[k] == dissEv && r.Float64() < 0.5 {
						cess = &p.events[k].ts
					}
				}
			}
			b.writeParty(p.num, "FBO", start, end, &p.created, cess, "", "", g.baseName(j), g.corpNum(j, g.typeOf(j)))
		}
	case firm:
		for range map[bool]int{true: 2, false: 1}[ct.cd == "GP"] {
			b.writeParty(p.num, "FIO", created, nil, &p.created, nil, pick(r, lastNames), pick(r, firstNames), "", "")
		}
	case ct.class == "BC" && r.Float64() < 0.3:
		for range 1 + r.IntN(2) {
			b.writeParty(p.num, "DIR", created, nil, &p.created, nil, pick(r, lastNames), pick(r, firstNames), "", "")
		}
	}
}

// owner picks a corp that can own a firm: a BC company or an
// extra-provincial, found by probing from a random index.
func (b *builder) owner(r *rand.Rand) (int, bool) {
	n := b.g.corps
	j := r.IntN(n)
	for range min(n, 64) {
		if c := b.g.typeOf(j).class; c == "BC" || c == "XPRO" {
			return j, true
		}
		j = (j + 1) % n
	}
	return 0, false
}

func (b *builder) writeParty(corp, typ string, start int64, end *int64, appt, cess *time.Time, last, first, business, busNum string) {
	b.party++
	t := b.t.party
	t.int(b.party).null().null().str(corp).str(typ).int(start).intp(end).null().null().null()
	t.tsp(appt).tsp(cess).opt(last).null().opt(first).opt(business).opt(busNum).null().null().null().null().null().end()
}
