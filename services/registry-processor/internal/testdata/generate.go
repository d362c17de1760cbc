// Package testdata fills a COLIN source database (schema bc_registries)
// with realistic, deterministic data for tests, benchmarks and the
// devstack: corporations of every kind the processor meets, their event
// history with filings and conversion records, names, states,
// jurisdictions, offices and addresses, firms owned by corporations, and
// the odd rows real data has (null and out-of-range dates, broken links,
// future-dated events). Events appends a later stream of changes.
package testdata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/services/registry-processor/colin"
	"tributary.dev/services/registry-processor/internal/model"
)

// Options says what Generate makes.
type Options struct {
	Corps int
	Seed  int64
	// Start is the earliest recognition date (default 1950-01-01);
	// recognition dates spread from it to 30 days before Now.
	Start time.Time
	// Now is the naive Pacific "now" (default 2025-01-01, so the same
	// options give the same rows on any day): a few events are
	// future-dated after it, by event_timestmp or by effective date.
	Now time.Time
}

// Summary counts the rows written.
type Summary struct {
	Corps, Events, Names, States, Offices, Addresses, Parties int
	MaxEventID                                                int64
}

var (
	year1    = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	year9999 = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// maxCorps keeps corp numbers at 7 digits (see corpNum).
const maxCorps = 10_000_000

// chunk is how many corps are generated between COPY flushes: a few MB of
// rows, so memory stays flat at any size.
const chunk = 5000

// kind is what a generated event does to the corp's rows.
type kind uint8

const (
	kCreate   kind = iota // first name, ACT state, jurisdiction, offices, parties
	kConvName             // a pre-conversion name change, recorded on the conversion day
	kLedger               // a pre-conversion filing with no row changes
	kAnnual               // annual report
	kName                 // legal name change
	kAssumed              // new assumed name (extra-provincials)
	kAddr                 // office address change
	kDirs                 // change of directors: no rows
	kJur                  // home jurisdiction change
	kAdmin                // administrative event: no filing
	kWarn                 // dissolution notice: state D1A (still active)
	kDiss                 // dissolution, withdrawal, amalgamation, continuation out
	kRestore              // restoration: back to ACT
)

// pev is one planned event.
type pev struct {
	ts   time.Time
	kind kind
	typ  string     // event_typ_cd
	fil  string     // filing_typ_cd; "" when the event has no filing
	eff  *time.Time // filing.effective_dt or conv_event.effective_dt
	trig *time.Time // event.trigger_dts (firms)
}

// plan is a corp's identity and events, drawn before any row so that the
// event ids can be given in time order across all corps.
type plan struct {
	num     string
	typ     *corpType
	rec     *time.Time
	created time.Time
	events  []pev
}

type gen struct {
	seed            int64
	corps           int
	start, end, now time.Time
	cum             []int // cumulative corp type weights
}

func newGen(o Options) (*gen, error) {
	g := &gen{seed: o.Seed, corps: o.Corps, start: o.Start, now: o.Now}
	if g.start.IsZero() {
		g.start = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if g.now.IsZero() {
		g.now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	g.end = g.now.Add(-days(30))
	if !g.start.Before(g.end) {
		return nil, fmt.Errorf("testdata: start %s is not before now-30d %s", fmtTS(g.start), fmtTS(g.end))
	}
	sum := 0
	for _, c := range corpTypes {
		sum += c.weight
		g.cum = append(g.cum, sum)
	}
	return g, nil
}

// rng is corp i's random stream for one purpose; streams are independent
// of each other and of the order corps are generated in.
func (g *gen) rng(i int, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.seed), uint64(i)<<3|purpose))
}

func (g *gen) typeOf(i int) *corpType {
	x := g.rng(i, 0).IntN(g.cum[len(g.cum)-1])
	k, _ := slices.BinarySearch(g.cum, x+1)
	return &corpTypes[k]
}

// corpNum maps i to a unique 7-digit number (an affine permutation of
// 0..10^7-1, shifted by the seed) with the prefix COLIN gives the type.
func (g *gen) corpNum(i int, ct *corpType) string {
	n := (uint64(i)*1_000_003 + uint64(g.seed)) % maxCorps
	prefix := ""
	switch ct.cd {
	case "BC", "ULC", "CC", "BEN":
	case "C", "CUL":
		prefix = "C"
	case "A", "LLC", "XCP":
		prefix = "A"
	case "SP", "GP", "MF":
		prefix = "FM"
	default:
		prefix = ct.cd
	}
	return fmt.Sprintf("%s%07d", prefix, n)
}

// baseName is corp i's first legal name, a function of i alone so a firm
// can name its owner in business_nme.
func (g *gen) baseName(i int) string { return newName(g.rng(i, 1), g.typeOf(i).class) }

func isXpro(ct *corpType) bool {
	return ct.class == "XPRO" || ct.cd == "XP" || ct.cd == "XL"
}

func (g *gen) plan(i int) plan {
	r := g.rng(i, 2)
	ct := g.typeOf(i)
	p := plan{num: g.corpNum(i, ct), typ: ct}
	created := between(r, g.start, g.end)
	p.created = created
	switch x := r.Float64(); {
	case x < 0.004:
	case x < 0.006:
		p.rec = &year1
	case x < 0.007:
		p.rec = &year9999
	default:
		p.rec = &created
	}
	firm := ct.class == "FIRM"
	trig := func(t time.Time) *time.Time {
		if !firm || r.Float64() < 0.1 {
			return nil
		}
		v := t.Add(-days(r.IntN(30)))
		return &v
	}
	add := func(e pev) { p.events = append(p.events, e) }
	ptr := func(t time.Time) *time.Time { return &t }

	// Corps older than the conversion mostly have their early history as
	// CONV* events stamped on 2004-03-26, the real date in conv_event.
	conv := created.Before(model.ConversionDate) && r.Float64() < 0.9
	early := false // dissolved before the conversion
	t0 := created.Add(time.Duration(r.IntN(10*3600)) * time.Second)
	if conv {
		e := pev{kind: kCreate, typ: "CONVICORP", eff: ptr(created), trig: trig(created)}
		if r.Float64() < 0.05 {
			e.typ = "CONVAMAL"
		}
		if r.Float64() < 0.02 {
			e.eff = nil
		}
		add(e)
		if r.Float64() < 0.3 {
			add(pev{kind: kConvName, typ: "CONVNC", eff: ptr(between(r, created, model.ConversionDate))})
		}
		if ct.class == "BC" && r.Float64() < 0.3 {
			add(pev{kind: kLedger, typ: "FILE", fil: "CONVL", eff: ptr(between(r, created, model.ConversionDate))})
		}
		if r.Float64() < 0.15 {
			add(pev{kind: kDiss, typ: "CONVL", eff: ptr(between(r, created, model.ConversionDate))})
			early = true
		}
		// Conversion events keep their order within the day.
		at := model.ConversionDate.Add(8 * time.Hour)
		for k := range p.events {
			at = at.Add(time.Duration(1+r.IntN(600)) * time.Second)
			p.events[k].ts = at
		}
		t0 = model.ConversionDate.Add(days(1))
	} else {
		eff := t0
		switch x := r.Float64(); {
		case x < 0.03:
			eff = t0.Add(days(1 + r.IntN(10))) // future-effective incorporation
		case x < 0.032:
			eff = year1
		}
		fil := map[string]string{"BC": "ICORP", "XPRO": "REGXP", "FIRM": "FRREG", "COOP": "CPINC", "SOC": "SOINC"}[ct.class]
		if fil == "" {
			fil = "ICORP"
		}
		if ct.cd == "C" || ct.cd == "CUL" {
			fil = "CONTI"
		}
		e := pev{ts: t0, kind: kCreate, typ: "FILE", fil: fil, eff: &eff, trig: trig(created)}
		if r.Float64() < 0.01 {
			e.eff = nil
		}
		add(e)
	}

	var ks []kind
	if !early {
		years := int(g.now.Sub(t0).Hours() / 8766)
		if ct.class == "BC" || ct.class == "COOP" || ct.class == "SOC" {
			for range min(years, 6) {
				if r.Float64() < 0.5 {
					ks = append(ks, kAnnual)
				}
			}
		}
		for _, c := range []struct {
			k    kind
			p    float64
			when bool
		}{
			{kName, 0.25, true}, {kName, 0.06, true}, {kAssumed, 0.25, ct.class == "XPRO"},
			{kAddr, 0.3, true}, {kAddr, 0.1, true}, {kDirs, 0.3, ct.class == "BC"},
			{kJur, 0.06, isXpro(ct)}, {kAdmin, 0.05, !firm}, {kAdmin, 0.15, firm},
			{kWarn, 0.04, ct.class == "BC"},
		} {
			if c.when && r.Float64() < c.p {
				ks = append(ks, c.k)
			}
		}
		r.Shuffle(len(ks), func(a, b int) { ks[a], ks[b] = ks[b], ks[a] })
		if r.Float64() < map[bool]float64{true: 0.35, false: 0.22}[firm] {
			ks = append(ks, kDiss)
		}
	}
	if (early || slices.Contains(ks, kDiss)) && r.Float64() < 0.1 {
		ks = append(ks, kRestore)
	}
	times := make([]time.Time, len(ks))
	for k := range times {
		times[k] = between(r, t0.Add(time.Hour), g.now)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for k, kd := range ks {
		e := pev{ts: times[k], kind: kd, typ: "FILE", trig: trig(times[k])}
		switch kd {
		case kAnnual:
			e.fil = "ANNBC"
		case kName:
			switch ct.class {
			case "BC":
				e.fil = pick(r, []string{"NOALA", "NOALA", "NOALA", "NOALB", "NOALC", "NOALD", "NOALE", "NOALR", "NOALU"})
			case "FIRM":
				e.fil = "FRCHG"
			case "XPRO":
				e.fil = "XPCHG"
			default:
				e.fil = "NOALA"
			}
		case kAssumed, kJur:
			e.fil = "XPCHG"
		case kAddr:
			e.fil = map[bool]string{true: "FRCHG", false: "NOCAD"}[firm]
		case kDirs:
			e.fil = "NOCDR"
		case kAdmin:
			e.typ = "ADMIN"
		case kWarn:
			e.typ = "SYSD1"
		case kDiss:
			switch {
			case firm:
				e.fil = "FRDIS"
			case ct.class == "XPRO" && r.Float64() < 0.3:
				e.fil = "XPWDL"
			default:
				e.fil = pick(r, []string{"DISLV", "DISLV", "DISLV", "DISLV", "", "", "", "AMALH", "CONTO"})
				if e.fil == "" {
					e.typ = "SYSDF"
				}
			}
		case kRestore:
			e.fil = "RESTF"
		}
		if e.fil != "" {
			eff := e.ts
			switch x := r.Float64(); {
			case x < 0.02:
				e.eff = nil
			case x < 0.022:
				e.eff = &year1
			case x < 0.023:
				e.eff = &year9999
			case x < 0.033:
				eff = e.ts.Add(days(1 + r.IntN(30)))
				e.eff = &eff
			default:
				e.eff = &eff
			}
		}
		add(e)
	}
	// A few corps have a name change filed in the last days whose
	// effective date is after now, and fewer an event stamped after now:
	// both are future-dated for the processor.
	if !early && r.Float64() < 0.01 {
		ts := g.now.Add(-time.Duration(r.IntN(72*3600)) * time.Second)
		eff := g.now.Add(days(1 + r.IntN(20)))
		add(pev{ts: ts, kind: kName, typ: "FILE", fil: "NOALA", eff: &eff, trig: trig(ts)})
	}
	if !early && r.Float64() < 0.003 {
		ts := g.now.Add(days(1 + r.IntN(60)))
		add(pev{ts: ts, kind: kAddr, typ: "FILE", fil: "NOCAD", eff: &ts})
	}
	slices.SortStableFunc(p.events[1:], func(a, b pev) int { return a.ts.Compare(b.ts) })
	return p
}

// Generate creates the schema and code tables if missing and fills pool
// with opts.Corps corps. The same Options give the same rows. It refuses
// a database that already holds corporations. Event ids follow
// event_timestmp order across all corps, as in COLIN, so the largest id
// is among the latest events.
func Generate(ctx context.Context, pool *pgxpool.Pool, o Options, progress func(done, total int)) (Summary, error) {
	if o.Corps < 0 || o.Corps > maxCorps {
		return Summary{}, fmt.Errorf("testdata: %d corps: want 0..%d", o.Corps, maxCorps)
	}
	g, err := newGen(o)
	if err != nil {
		return Summary{}, err
	}
	if err := prepare(ctx, pool); err != nil {
		return Summary{}, err
	}
	if progress == nil {
		progress = func(int, int) {}
	}

	// Pass 1: every corp's event times, ranked into ids.
	type key struct {
		ts  int64
		idx int32
	}
	offsets := make([]int32, o.Corps+1)
	keys := make([]key, 0, o.Corps*8)
	for i := range o.Corps {
		if i%chunk == 0 && ctx.Err() != nil {
			return Summary{}, ctx.Err()
		}
		for _, e := range g.plan(i).events {
			keys = append(keys, key{e.ts.Unix(), int32(len(keys))})
		}
		offsets[i+1] = int32(len(keys))
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.idx, b.idx)) })
	ids := make([]int32, len(keys))
	for rank, k := range keys {
		ids[k.idx] = int32(rank + 1)
	}
	keys = nil

	// Pass 2: the rows, a chunk at a time.
	ts := newTables()
	b := &builder{g: g, t: ts}
	for i := range o.Corps {
		p := g.plan(i)
		ev := make([]int64, len(p.events))
		for k := range ev {
			ev[k] = int64(ids[int(offsets[i])+k])
		}
		b.corp(i, p, ev)
		if (i+1)%chunk == 0 || i+1 == o.Corps {
			if err := ts.flush(ctx, pool, nil); err != nil {
				return Summary{}, fmt.Errorf("testdata: corps up to %s: %w", p.num, err)
			}
			progress(i+1, o.Corps)
		}
	}
	s := ts.summary()
	s.MaxEventID = int64(len(ids))
	return s, nil
}

// prepare creates the schema and code tables, and refuses a database
// that already has corporations: generated numbers would collide.
func prepare(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, colin.Schema); err != nil {
		return fmt.Errorf("testdata: create source schema: %w", err)
	}
	if err := insertCodes(ctx, pool); err != nil {
		return fmt.Errorf("testdata: %w", err)
	}
	var any bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bc_registries.corporation)").Scan(&any); err != nil {
		return fmt.Errorf("testdata: check for existing corporations: %w", err)
	}
	if any {
		return errors.New("testdata: bc_registries.corporation already has rows; generate into an empty source database")
	}
	return nil
}

// Populated says whether the source already holds corporations (a
// generated or a real COLIN copy): Generate would refuse it.
func Populated(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('bc_registries.corporation') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return false, err
	}
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bc_registries.corporation)").Scan(&exists); err != nil {
		return false, fmt.Errorf("testdata: %w", err)
	}
	return exists, nil
}

// LatestBefore is the newest event_timestmp at or before now (zero if
// none): events appended after it are ones no run has passed yet.
func LatestBefore(ctx context.Context, pool *pgxpool.Pool, now time.Time) (time.Time, error) {
	var t *time.Time
	if err := pool.QueryRow(ctx, "SELECT max(event_timestmp) FROM bc_registries.event WHERE event_timestmp <= $1", now).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("testdata: newest event: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return *t, nil
}
