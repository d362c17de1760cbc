package creds

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tributary.dev/services/registry-processor/internal/creds/pyjson"
	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// dict is a Python dict in insertion order, for json.dumps without
// sort_keys; list a Python list. Values are string, *string (nil: None),
// int, int64, bool, nil, dict or list.
type (
	dict []item
	item struct {
		K string
		V any
	}
	list []any
)

// encodePy is json.dumps(v) with Python's defaults: separators ", " and
// ": ", ensure_ascii, keys in the order given.
func encodePy(v any) string {
	var b strings.Builder
	writePy(&b, v)
	return b.String()
}

func writePy(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		pyjson.Quote(b, x)
	case *string:
		if x == nil {
			b.WriteString("null")
		} else {
			pyjson.Quote(b, *x)
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case dict:
		b.WriteByte('{')
		for i, it := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			pyjson.Quote(b, it.K)
			b.WriteString(": ")
			writePy(b, it.V)
		}
		b.WriteByte('}')
	case list:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, e)
		}
		b.WriteByte(']')
	default:
		panic(fmt.Sprintf("corp_json: cannot encode %T", v))
	}
}

// corpJSON is corp_history_log.corp_json as the original wrote it:
// to_json(corp_info), json.dumps without sort_keys, so the keys come in
// the order get_bc_reg_corp_info set them, with reg_summary added last;
// dates through the same encoder as the credentials. The original's audit
// scripts read corp_typ_cd and corp_state from it, its business-number
// back-fill corp_num, corp_typ_cd, bn_9 and recognition_dts. Columns the
// processor does not read are left out (README, "differs on purpose").
func (g *corpInfo) corpJSON(rules pacific.Rules) string {
	dates := &isoMemo{rules: rules, seen: map[time.Time]string{}}
	c := g.c
	d := func(t time.Time) string { return dates.ISO(t) }
	dp := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return d(*t)
	}
	corpType := dict{}
	if c.Class != "" {
		corpType = dict{{"corp_typ_cd", c.TypeCd}, {"colin_ind", c.TypeColinInd}, {"corp_class", c.Class},
			{"short_desc", c.TypeShortDesc}, {"full_desc", c.TypeFullDesc}}
	}
	out := dict{
		{"current_date", d(g.now)},
		{"corp_num", c.Num},
		{"jurisdiction", g.jurisdictionsJSON(dates)},
		{"corp_typ_cd", c.TypeCd},
		{"corp_type", corpType},
		{"recognition_dts", dp(c.RecognitionDts)},
		{"last_ar_filed_dt", dp(c.LastARFiled)},
		{"bn_9", c.BN9},
		{"bn_15", c.BN15},
		{"admin_email", c.AdminEmail},
		{"last_ledger_dt", dp(c.LastLedgerDt)},
		{"org_names", g.namesJSON(g.names, dates)},
		{"org_name_assumed", g.namesJSON(g.assumed, dates)},
		{"office", g.officesJSON(dates)},
		{"corp_state", g.statesJSON(dates)},
		{"parties", g.partiesJSON(dates)},
		{"reg_summary", g.regSummaryJSON(dates)},
	}
	return encodePy(out)
}

// eventJSON is get_event's dict: the event row, its filing and conv_event
// ({} when it has none), its effective date as resolved for this row, and
// for names and states whether it also ends one of their rows.
func (g *corpInfo) eventJSON(e *event, flag bool, dates *isoMemo) dict {
	if e == nil {
		return dict{}
	}
	src := g.c.Events[e.id]
	var corp any
	var trigger *time.Time
	if src != nil {
		corp, trigger = src.Corp, src.Trigger
	}
	if e.id == 0 && src != nil && src.Corp == "" {
		corp = nil
	}
	filing, conv := dict{}, dict{}
	if src != nil && e.typ == "FILE" && e.filing != "" {
		filing = dict{{"event_id", e.id}, {"filing_typ_cd", e.filing}, {"effective_dt", optDate(src.FilingEffective, dates)}}
	}
	if src != nil && src.ConvEffective != nil && len(e.typ) >= 4 && e.typ[:4] == "CONV" {
		conv = dict{{"event_id", e.id}, {"effective_dt", dates.ISO(*src.ConvEffective)}}
	}
	out := dict{
		{"event_id", e.id}, {"corp_num", corp}, {"event_typ_cd", e.typ}, {"event_timestmp", dates.ISO(e.ts)},
		{"trigger_dts", optDate(trigger, dates)}, {"filing", filing}, {"conv_event", conv}, {"effective_date", dates.ISO(e.eff)},
	}
	if flag {
		out = append(out, item{K: "appears_as_end_event", V: e.appearsAsEnd})
	}
	return out
}

func optDate(t *time.Time, dates *isoMemo) any {
	if t == nil {
		return nil
	}
	return dates.ISO(*t)
}

func optInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// span appends a row's start event, effective start, end event and
// effective end in the order the original set them for names, offices
// and jurisdictions (start_event, effective_start_date, [end_event],
// effective_end_date).
func (g *corpInfo) span(r *rec, flag bool, dates *isoMemo) dict {
	out := dict{{"start_event", g.eventJSON(r.start, flag, dates)}, {"effective_start_date", dates.ISO(r.effStart)}}
	if r.end != nil {
		out = append(out, item{K: "end_event", V: g.eventJSON(r.end, false, dates)})
	}
	return append(out, item{K: "effective_end_date", V: dates.ISO(r.effEnd)})
}

func (g *corpInfo) jurisdictionsJSON(dates *isoMemo) list {
	out := list{}
	for _, r := range g.jurs {
		j := r.jur
		row := dict{{"corp_num", g.c.Num}, {"start_event_id", r.startID}, {"end_event_id", optInt(r.endID)},
			{"can_jur_typ_cd", j.CanJurTypCd}, {"home_recogn_dt", optDate(j.HomeRecognDt, dates)}, {"othr_juris_desc", j.OthrJurisDesc},
			{"home_juris_num", j.HomeJurisNum}, {"home_company_nme", j.HomeCompanyNme}}
		out = append(out, append(row, g.span(r, false, dates)...))
	}
	return out
}

func (g *corpInfo) namesJSON(recs []*rec, dates *isoMemo) list {
	out := list{}
	for _, r := range recs {
		n := r.nameRow
		row := dict{{"corp_num", g.c.Num}, {"corp_name_typ_cd", n.TypeCd}, {"start_event_id", r.startID},
			{"start_event", g.eventJSON(r.start, true, dates)}, {"effective_start_date", dates.ISO(r.effStart)},
			{"end_event_id", optInt(r.endID)}}
		if r.end != nil {
			row = append(row, item{K: "end_event", V: g.eventJSON(r.end, false, dates)})
		}
		row = append(row, dict{{"effective_end_date", dates.ISO(r.effEnd)}, {"corp_name_seq_num", n.Seq},
			{"srch_nme", n.Srch}, {"corp_nme", n.Name}, {"dd_corp_num", n.DDCorp}}...)
		out = append(out, row)
	}
	return out
}

func addressJSON(a *model.Address) dict {
	if a == nil {
		return dict{}
	}
	return dict{{"addr_id", a.ID}, {"province", a.Province}, {"country_typ_cd", a.CountryTypCd}, {"postal_cd", a.PostalCd},
		{"addr_line_1", a.Line1}, {"addr_line_2", a.Line2}, {"addr_line_3", a.Line3}, {"city", a.City}, {"address_desc", a.AddressDesc},
		{"local_addr", localAddr(a.Line1, a.Line2, a.Line3, a.City, a.Province, a.PostalCd, a.CountryTypCd, a.AddressDesc)}}
}

func (g *corpInfo) officesJSON(dates *isoMemo) list {
	out := list{}
	for _, r := range g.offices {
		o := r.office
		row := dict{{"corp_num", g.c.Num}, {"office_typ_cd", o.TypeCd}, {"start_event_id", r.startID}, {"end_event_id", optInt(r.endID)},
			{"mailing_addr_id", optInt(o.MailingAddrID)}, {"delivery_addr_id", optInt(o.DeliveryAddrID)},
			{"delivery_addr", addressJSON(o.Delivery)}}
		// The original read the mailing address only when its id differs.
		if !sameID(o.MailingAddrID, o.DeliveryAddrID) {
			row = append(row, item{K: "mailing_addr", V: addressJSON(o.Mailing)})
		}
		out = append(out, append(row, g.span(r, false, dates)...))
	}
	return out
}

func sameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// statesJSON is corp_state as the original left it: sorted, each row with
// its start event, its own event date, its end, the start event of the
// run of one op state it belongs to, and that run's effective start.
func (g *corpInfo) statesJSON(dates *isoMemo) list {
	out := list{}
	var head *rec
	for _, r := range g.states {
		if head == nil || head.opState != r.opState {
			head = r
		}
		row := dict{{"corp_num", g.c.Num}, {"start_event_id", r.startID}, {"end_event_id", optInt(r.endID)},
			{"state_typ_cd", r.stateTyp}, {"op_state_typ_cd", r.opState},
			{"start_event", g.eventJSON(r.start, true, dates)}, {"event_date", dates.ISO(r.eventDate)}}
		if r.end != nil {
			row = append(row, item{K: "end_event", V: g.eventJSON(r.end, false, dates)})
		}
		row = append(row, dict{{"effective_end_date", dates.ISO(r.effEnd)},
			{"corp_state_effective_event", g.eventJSON(head.start, true, dates)}, {"effective_start_date", dates.ISO(r.effStart)}}...)
		out = append(out, row)
	}
	return out
}

func (g *corpInfo) partiesJSON(dates *isoMemo) list {
	out := list{}
	for _, r := range g.partiesInOrder {
		p := r.party
		row := dict{{"corp_num", p.CorpNum}, {"corp_party_id", p.ID}, {"party_typ_cd", p.PartyTypCd},
			{"start_event_id", r.startID}, {"start_event", g.eventJSON(r.start, false, dates)}, {"effective_start_date", dates.ISO(r.effStart)},
			{"end_event_id", optInt(r.endID)}}
		if r.end != nil {
			row = append(row, item{K: "end_event", V: g.eventJSON(r.end, false, dates)})
		}
		row = append(row, dict{{"effective_end_date", dates.ISO(r.effEnd)}, {"cessation_dt", optDate(p.CessationDt, dates)},
			{"business_nme", p.BusinessNme}, {"bus_company_num", p.BusCompanyNum}}...)
		if p.CorpNum != g.c.Num {
			// The other side, as get_basic_corp_info without the history.
			info := dict{{"corp_num", ""}, {"corp_typ_cd", ""}, {"recognition_dts", ""}}
			if o := p.Other; o != nil {
				info = dict{{"current_date", dates.ISO(g.now)}, {"corp_num", o.Num}, {"corp_typ_cd", o.TypeCd},
					{"recognition_dts", optDate(o.RecognitionDts, dates)}}
			}
			row = append(row, item{K: "corp_info", V: info})
		}
		out = append(out, row)
	}
	return out
}

// regSummaryJSON is corp_unique_record_list: a summary per state,
// jurisdiction, name and assumed name row, sorted (stably) by effective
// start, then end.
func (g *corpInfo) regSummaryJSON(dates *isoMemo) list {
	type sum struct {
		typ        string
		start, end time.Time
		desc       any
	}
	var all []sum
	for _, r := range g.states {
		all = append(all, sum{"corp_state", r.effStart, r.effEnd, r.stateTyp})
	}
	for _, r := range g.jurs {
		all = append(all, sum{"jurisdiction", r.effStart, r.effEnd, r.jur.CanJurTypCd})
	}
	for _, r := range g.names {
		all = append(all, sum{"org_names", r.effStart, r.effEnd, r.name})
	}
	for _, r := range g.assumed {
		all = append(all, sum{"org_name_assumed", r.effStart, r.effEnd, r.name})
	}
	slices.SortStableFunc(all, func(a, b sum) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return a.end.Compare(b.end)
	})
	out := list{}
	for _, s := range all {
		out = append(out, dict{{"corp_num", g.c.Num}, {"rec_type", s.typ}, {"effective_start_date", dates.ISO(s.start)},
			{"effective_end_date", dates.ISO(s.end)}, {"desc", s.desc}})
	}
	return out
}

// isoMemo prints dates as the encoder does, once each: a corp's events
// come back many times in its dict.
type isoMemo struct {
	rules pacific.Rules
	seen  map[time.Time]string
}

func (m *isoMemo) ISO(t time.Time) string {
	if s, ok := m.seen[t]; ok {
		return s
	}
	s := m.rules.ISO(t)
	m.seen[t] = s
	return s
}
