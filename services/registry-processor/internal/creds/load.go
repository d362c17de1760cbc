package creds

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// event is one row's own copy of an event, as the original's get_event
// returned a fresh dict per row: the conversion rules overwrite the
// effective date of a name's or a state's start event, and that change
// must reach that row's entry in the event list and nothing else.
type event struct {
	id           int64
	typ          string // event_typ_cd
	filing       string // filing_typ_cd, "" when the event has no filing
	ts           time.Time
	eff          time.Time
	appearsAsEnd bool
}

func (e *event) isConversion() bool {
	y, m, d := e.ts.Date()
	return y == 2004 && m == time.March && d == 26
}

// rec is a versioned row (name, state, jurisdiction, office, party) with
// its events and effective range.
type rec struct {
	startID  int64
	endID    *int64
	start    *event
	end      *event // nil when endID is nil
	effStart time.Time
	effEnd   time.Time

	name      *string // corp_nme
	nameRow   *model.Name
	stateTyp  string
	opState   string
	eventDate time.Time // corp_state: the start event's own effective date
	jur       *model.Jurisdiction
	office    *model.Office
	party     *model.Party
}

// corpInfo is the original's corp_info dict for one corp.
type corpInfo struct {
	c       *model.Corp
	now     time.Time
	names   []*rec // CO and NB
	assumed []*rec // AS
	states  []*rec // sorted, op states merged
	jurs    []*rec // sorted
	offices []*rec // RG, HD, FO in the order given
	parties []*rec // FBO rows, sorted by (effective start, start event id)
	// partiesInOrder are the same rows as loaded, for corp_json.
	partiesInOrder []*rec
}

// firmTypes use event.trigger_dts as the effective date of their state
// and party events.
var firmTypes = map[string]bool{"SP": true, "GP": true, "LP": true, "XP": true, "LL": true, "XL": true, "MF": true}

// effectiveDate is get_event_filing_effective_date. corpType is "" for
// the rows the original fetched without it (names, jurisdictions, offices).
func effectiveDate(e *model.Event, corpType string) time.Time {
	if firmTypes[corpType] && e.Trigger != nil {
		return *e.Trigger
	}
	if e.TypeCd == "FILE" && e.FilingTypeCd != "" && e.FilingEffective != nil {
		return *e.FilingEffective
	}
	if strings.HasPrefix(e.TypeCd, "CONV") && e.ConvEffective != nil {
		return *e.ConvEffective
	}
	return e.Timestamp
}

func (g *corpInfo) event(id int64, corpType, what string) (*event, error) {
	e := g.c.Events[id]
	if e == nil {
		return nil, fmt.Errorf("%s refers to event %d, which is not in the source", what, id)
	}
	if e.Problem != "" {
		return nil, fmt.Errorf("%s: %s", what, e.Problem)
	}
	filing := ""
	if e.TypeCd == "FILE" {
		filing = e.FilingTypeCd
	}
	return &event{id: id, typ: e.TypeCd, filing: filing, ts: e.Timestamp, eff: effectiveDate(e, corpType)}, nil
}

func (g *corpInfo) newRec(start int64, end *int64, corpType, what string) (*rec, error) {
	r := &rec{startID: start, endID: end, effEnd: pacific.MaxEnd}
	var err error
	if r.start, err = g.event(start, corpType, what+" start"); err != nil {
		return nil, err
	}
	r.effStart = r.start.eff
	if end != nil {
		if r.end, err = g.event(*end, corpType, what+" end"); err != nil {
			return nil, err
		}
		r.effEnd = r.end.eff
	}
	return r, nil
}

// load is get_bc_reg_corp_info over the loaded rows.
func load(c *model.Corp, now time.Time) (*corpInfo, error) {
	g := &corpInfo{c: c, now: now}
	var err error
	if g.jurs, err = g.loadJurisdictions(); err != nil {
		return nil, err
	}
	if g.names, err = g.loadNames(map[string]bool{"CO": true, "NB": true}); err != nil {
		return nil, err
	}
	if g.assumed, err = g.loadNames(map[string]bool{"AS": true}); err != nil {
		return nil, err
	}
	for i := range c.Offices {
		o := &c.Offices[i]
		if o.TypeCd != "RG" && o.TypeCd != "HD" && o.TypeCd != "FO" {
			continue
		}
		r, err := g.newRec(o.Start, o.End, "", fmt.Sprintf("office %s", o.TypeCd))
		if err != nil {
			return nil, err
		}
		r.office = o
		g.offices = append(g.offices, r)
	}
	if g.states, err = g.loadStates(); err != nil {
		return nil, err
	}
	if g.parties, err = g.loadParties(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *corpInfo) loadJurisdictions() ([]*rec, error) {
	var out []*rec
	for i := range g.c.Jurisdictions {
		j := &g.c.Jurisdictions[i]
		r, err := g.newRec(j.Start, j.End, "", fmt.Sprintf("jurisdiction %s", j.CanJurTypCd))
		if err != nil {
			return nil, err
		}
		r.jur = j
		out = append(out, r)
	}
	// Three stable sorts, as the original: by effective start, then
	// start event id, then effective end.
	slices.SortStableFunc(out, func(a, b *rec) int { return a.effEnd.Compare(b.effEnd) })
	slices.SortStableFunc(out, func(a, b *rec) int { return cmpInt(a.startID, b.startID) })
	slices.SortStableFunc(out, func(a, b *rec) int { return a.effStart.Compare(b.effStart) })
	return out, nil
}

// loadNames is get_names plus the conversion fix-ups of
// get_basic_corp_info. The original read names in table order; rows are
// taken here in corp_name_seq_num order, which is that order for rows the
// registry appended.
func (g *corpInfo) loadNames(types map[string]bool) ([]*rec, error) {
	var rows []*model.Name
	for i := range g.c.Names {
		if types[g.c.Names[i].TypeCd] {
			rows = append(rows, &g.c.Names[i])
		}
	}
	slices.SortStableFunc(rows, func(a, b *model.Name) int { return a.Seq - b.Seq })
	recog := g.c.RecognitionDts
	var out []*rec
	for _, n := range rows {
		r, err := g.newRec(n.Start, n.End, "", fmt.Sprintf("name %s/%d", n.TypeCd, n.Seq))
		if err != nil {
			return nil, err
		}
		r.name, r.nameRow = n.Name, n
		if r.effStart.After(r.effEnd) && r.start.isConversion() && recog != nil {
			r.start.eff, r.effStart = *recog, *recog
		}
		out = append(out, r)
	}
	if len(out) == 1 && recog != nil && out[0].start.isConversion() {
		out[0].start.eff, out[0].effStart = *recog, *recog
	}
	flagAppearsAsEnd(out)
	for _, r := range out {
		if r.start.isConversion() && !r.start.appearsAsEnd && recog != nil {
			r.start.eff, r.effStart = *recog, *recog
		}
	}
	return out, nil
}

func flagAppearsAsEnd(recs []*rec) {
	ends := map[int64]bool{}
	for _, r := range recs {
		if r.endID != nil {
			ends[*r.endID] = true
		}
	}
	for _, r := range recs {
		r.start.appearsAsEnd = ends[r.startID]
	}
}

// loadStates reads the corp_state rows joined to corp_op_state (a row
// whose state code has no op state is dropped, as the join dropped it),
// sorts them and merges runs of one op state.
func (g *corpInfo) loadStates() ([]*rec, error) {
	var out []*rec
	for i := range g.c.States {
		s := &g.c.States[i]
		if s.OpState == "" {
			continue
		}
		r, err := g.newRec(s.Start, s.End, g.c.TypeCd, fmt.Sprintf("state %s", s.StateTypCd))
		if err != nil {
			return nil, err
		}
		r.stateTyp, r.opState, r.eventDate = s.StateTypCd, s.OpState, r.start.eff
		out = append(out, r)
	}
	flagAppearsAsEnd(out)
	slices.SortStableFunc(out, func(a, b *rec) int { return a.effEnd.Compare(b.effEnd) })
	slices.SortStableFunc(out, func(a, b *rec) int { return cmpInt(a.startID, b.startID) })
	slices.SortStableFunc(out, func(a, b *rec) int { return a.eventDate.Compare(b.eventDate) })
	recog := g.c.RecognitionDts
	var prev *rec
	for _, s := range out {
		useRecognition := prev == nil && (s.opState == "ACT" || (s.start.isConversion() && !s.start.appearsAsEnd))
		if prev == nil || prev.opState != s.opState {
			prev = s
			if useRecognition && recog != nil {
				prev.start.eff, prev.effStart = *recog, *recog
			} else {
				prev.effStart = prev.eventDate
			}
		}
		s.effStart = prev.effStart
	}
	return out, nil
}

// loadParties keeps the FBO rows, the only ones that can give a
// credential; their events are read with the corp's own type (the firm
// trigger rule applies when the loaded corp is a firm).
func (g *corpInfo) loadParties() ([]*rec, error) {
	var out []*rec
	for i := range g.c.Parties {
		p := &g.c.Parties[i]
		if p.PartyTypCd != "FBO" {
			continue
		}
		r, err := g.newRec(p.Start, p.End, g.c.TypeCd, fmt.Sprintf("party %d", p.ID))
		if err != nil {
			return nil, err
		}
		r.party = p
		out = append(out, r)
	}
	g.partiesInOrder = slices.Clone(out)
	slices.SortStableFunc(out, func(a, b *rec) int { return cmpInt(a.startID, b.startID) })
	slices.SortStableFunc(out, func(a, b *rec) int { return a.effStart.Compare(b.effStart) })
	return out, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// activeState is get_corp_active_state: the open row, else the one with
// the latest effective start.
func (g *corpInfo) activeState() *rec {
	var best *rec
	for _, s := range g.states {
		if s.endID == nil {
			return s
		}
		if best == nil || s.effStart.After(best.effStart) {
			best = s
		}
	}
	return best
}

// uniqueEvents is unique_effective_events: add the rows' start and end
// events, sort by timestamp then (stably) by effective date, keep the
// first of each run of equal effective dates.
func uniqueEvents(recs []*rec, events []*event) []*event {
	for _, r := range recs {
		events = append(events, r.start)
		if r.endID != nil {
			events = append(events, r.end)
		}
	}
	slices.SortStableFunc(events, func(a, b *event) int { return a.ts.Compare(b.ts) })
	slices.SortStableFunc(events, func(a, b *event) int { return a.eff.Compare(b.eff) })
	var out []*event
	for i, e := range events {
		if i == 0 || !e.eff.Equal(events[i-1].eff) {
			out = append(out, e)
		}
	}
	return out
}

// pastAndFuture is current_and_future_corp_events.
func (g *corpInfo) pastAndFuture() (past, future []*event) {
	events := uniqueEvents(g.states, nil)
	events = uniqueEvents(g.jurs, events)
	events = uniqueEvents(g.names, events)
	events = uniqueEvents(g.assumed, events)
	for _, e := range events {
		if e.eff.After(g.now) {
			future = append(future, e)
		} else {
			past = append(past, e)
		}
	}
	return past, future
}

// requeueWindow is the queue row the original added for future events:
// from the first (by effective date, then id) with its timestamp, to the
// last with its effective date; and when it is due: the first one's
// effective date, so a change effective then is issued then, however far
// off the last one is.
func requeueWindow(future []*event) (*Window, time.Time) {
	f := slices.Clone(future)
	slices.SortStableFunc(f, func(a, b *event) int { return cmpInt(a.id, b.id) })
	slices.SortStableFunc(f, func(a, b *event) int { return a.eff.Compare(b.eff) })
	first, last := f[0], f[len(f)-1]
	return &Window{PrevEventID: first.id, PrevEventDate: first.ts, LastEventID: last.id, LastEventDate: last.eff}, first.eff
}
