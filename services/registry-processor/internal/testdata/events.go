package testdata

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readTimeout bounds each read Events makes (the corp list of a large
// source is the longest).
const readTimeout = time.Minute

type liveCorp struct {
	num, typ, class string
	state           string // open state_typ_cd
	stateStart      int64
	hasState        bool
	nameSeq         int64 // open legal name's seq; 0 when none
	name            string
	maxSeq          int64
	offices         map[string]int64 // open offices: type → start event
}

type endRow struct {
	corp string
	key  int64  // seq (names) or start event (states, offices)
	typ  string // office type
	end  int64
}

// Events appends n later events after the current largest event id, with
// event_timestmp from at onward (seconds apart, ids in time order), on
// existing corps: legal name changes, address changes, dissolutions and
// restorations (by the corp's current op state), and new firms (SP/GP)
// owned by a corp through an FBO party. Rows the events end get their
// end_event_id in the same transaction. Summary counts the rows added;
// MaxEventID is the last id used.
func Events(ctx context.Context, pool *pgxpool.Pool, n int, seed int64, at time.Time) (Summary, error) {
	if n <= 0 {
		return Summary{}, nil
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0xe7e47))
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var maxEvent, maxAddr, maxParty, maxFirm int64
	err := pool.QueryRow(rctx, `SELECT
		(SELECT coalesce(max(event_id), 0) FROM bc_registries.event),
		(SELECT coalesce(max(addr_id), 0) FROM bc_registries.address),
		(SELECT coalesce(max(corp_party_id), 0) FROM bc_registries.corp_party),
		(SELECT coalesce(max(substr(corp_num, 3)::bigint), 10000000) FROM bc_registries.corporation WHERE corp_num ~ '^FM[0-9]{8}$')`).
		Scan(&maxEvent, &maxAddr, &maxParty, &maxFirm)
	if err != nil {
		return Summary{}, fmt.Errorf("testdata: read largest ids: %w", err)
	}
	rows, err := pool.Query(rctx, `SELECT c.corp_num, c.corp_typ_cd, coalesce(t.corp_class, '')
		FROM bc_registries.corporation c LEFT JOIN bc_registries.corp_type t USING (corp_typ_cd) ORDER BY c.corp_num`)
	if err != nil {
		return Summary{}, fmt.Errorf("testdata: list corporations: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*liveCorp, error) {
		c := &liveCorp{offices: map[string]int64{}}
		return c, row.Scan(&c.num, &c.typ, &c.class)
	})
	if err != nil {
		return Summary{}, fmt.Errorf("testdata: list corporations: %w", err)
	}
	if len(all) == 0 {
		return Summary{}, errors.New("testdata: no corporations to add events to; generate first")
	}
	picked := make([]*liveCorp, n)
	byNum := map[string]*liveCorp{}
	for k := range picked {
		c := all[r.IntN(len(all))]
		picked[k], byNum[c.num] = c, c
	}
	if err := loadLive(rctx, pool, byNum); err != nil {
		return Summary{}, err
	}

	op := map[string]string{}
	for _, s := range opStates {
		op[s[0]] = s[1]
	}
	t := newTables()
	b := &builder{t: t, addr: maxAddr, party: maxParty}
	var nameEnds, stateEnds, officeEnds []endRow
	id, ts := maxEvent, at
	event := func(corp, typ, fil string, firm bool) int64 {
		id++
		ts = ts.Add(time.Duration(1+r.IntN(30)) * time.Second)
		var trig *time.Time
		if firm {
			v := ts.Add(-days(r.IntN(10)))
			trig = &v
		}
		t.event.int(id).str(corp).str(typ).ts(ts).tsp(trig).end()
		if fil != "" {
			t.filing.int(id).str(fil).ts(ts).null().null().null().null().null().null().end()
		}
		return id
	}
	office := func(corp, typ string, start int64) {
		b.addr += 2
		pl := placeFor(r, "BC", "")
		writeAddress(t.address, r, b.addr-1, pl)
		writeAddress(t.address, r, b.addr, pl)
		t.office.str(corp).str(typ).int(start).null().int(b.addr - 1).int(b.addr).null().null().end()
	}
	for _, c := range picked {
		firm := c.class == "FIRM"
		active := !c.hasState || op[c.state] != "HIS"
		x := r.Float64()
		switch {
		case active && x < 0.35: // legal name change
			fil := map[string]string{"BC": "NOALA", "FIRM": "FRCHG", "XPRO": "XPCHG"}[c.class]
			if fil == "" {
				fil = "NOALA"
			}
			e := event(c.num, "FILE", fil, firm)
			if c.nameSeq != 0 {
				nameEnds = append(nameEnds, endRow{corp: c.num, key: c.nameSeq, end: e})
			}
			c.maxSeq++
			c.nameSeq, c.name = c.maxSeq, newName(r, c.class)
			t.name.str(c.num).str("CO").int(e).null().int(c.maxSeq).str(srchName(c.name)).str(c.name).null().end()
		case active && x < 0.8 && x >= 0.65, !active && x < 0.6: // dissolution or restoration
			cd, fil, typ := "ACT", "RESTF", "FILE"
			if active {
				cd, fil = "HDV", "DISLV"
				if firm {
					fil = "FRDIS"
				} else if r.Float64() < 0.3 {
					cd, fil, typ = "D1F", "", "SYSDF"
				}
			}
			e := event(c.num, typ, fil, firm)
			if c.hasState {
				stateEnds = append(stateEnds, endRow{corp: c.num, key: c.stateStart, end: e})
			}
			c.state, c.stateStart, c.hasState = cd, e, true
			t.state.str(c.num).int(e).null().str(cd).null().end()
		case active && x >= 0.8 && (c.class == "BC" || c.class == "XPRO"): // a new firm the corp owns
			maxFirm++
			num := "FM" + strconv.FormatInt(maxFirm, 10)
			typ := pick(r, []string{"SP", "SP", "GP"})
			e := event(num, "FILE", "FRREG", true)
			created := ts
			t.corporation.str(num).str(typ).ts(created).null().null().null().null().null().end()
			nme := newName(r, "FIRM")
			t.name.str(num).str("CO").int(e).null().int(1).str(srchName(nme)).str(nme).null().end()
			t.state.str(num).int(e).null().str("ACT").null().end()
			office(num, "FO", e)
			b.writeParty(num, "FBO", e, nil, &created, nil, "", "", c.name, c.num)
		default: // address change
			fil := "NOCAD"
			if firm {
				fil = "FRCHG"
			}
			e := event(c.num, "FILE", fil, firm)
			if len(c.offices) == 0 {
				c.offices[map[bool]string{true: "FO", false: "RG"}[firm]] = 0
			}
			for _, typ := range sortedKeys(c.offices) {
				if start := c.offices[typ]; start != 0 {
					officeEnds = append(officeEnds, endRow{corp: c.num, typ: typ, key: start, end: e})
				}
				office(c.num, typ, e)
				c.offices[typ] = e
			}
		}
	}
	err = t.flush(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		for _, u := range []struct {
			what, sql string
			rows      []endRow
		}{
			{"names", `UPDATE bc_registries.corp_name x SET end_event_id = u.e
				FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(c, k, t, e)
				WHERE x.corp_num = u.c AND x.corp_name_seq_num = u.k`, nameEnds},
			{"states", `UPDATE bc_registries.corp_state x SET end_event_id = u.e
				FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(c, k, t, e)
				WHERE x.corp_num = u.c AND x.start_event_id = u.k`, stateEnds},
			{"offices", `UPDATE bc_registries.office x SET end_event_id = u.e
				FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(c, k, t, e)
				WHERE x.corp_num = u.c AND x.start_event_id = u.k AND x.office_typ_cd = u.t`, officeEnds},
		} {
			if len(u.rows) == 0 {
				continue
			}
			var cs, ts []string
			var ks, es []int64
			for _, e := range u.rows {
				cs, ks, ts, es = append(cs, e.corp), append(ks, e.key), append(ts, e.typ), append(es, e.end)
			}
			tag, err := tx.Exec(ctx, u.sql, cs, ks, ts, es)
			if err != nil {
				return fmt.Errorf("end %d %s (first corp %s): %w", len(u.rows), u.what, cs[0], err)
			}
			if int(tag.RowsAffected()) != len(u.rows) {
				return fmt.Errorf("end %s: %d rows updated, want %d (first corp %s)", u.what, tag.RowsAffected(), len(u.rows), cs[0])
			}
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("testdata: events %d..%d: %w", maxEvent+1, id, err)
	}
	s := t.summary()
	s.MaxEventID = id
	return s, nil
}

// loadLive reads the open rows of the corps events will touch.
func loadLive(ctx context.Context, pool *pgxpool.Pool, corps map[string]*liveCorp) error {
	nums := make([]string, 0, len(corps))
	for n := range corps {
		nums = append(nums, n)
	}
	rows, err := pool.Query(ctx, `SELECT corp_num, start_event_id, state_typ_cd FROM bc_registries.corp_state
		WHERE corp_num = ANY($1) AND end_event_id IS NULL ORDER BY corp_num, start_event_id`, nums)
	if err != nil {
		return fmt.Errorf("testdata: read open states of %d corps: %w", len(nums), err)
	}
	var num, s string
	var k int64
	_, err = pgx.ForEachRow(rows, []any{&num, &k, &s}, func() error {
		c := corps[num]
		c.stateStart, c.state, c.hasState = k, s, true
		return nil
	})
	if err != nil {
		return fmt.Errorf("testdata: read open states: %w", err)
	}
	rows, err = pool.Query(ctx, `SELECT corp_num, corp_name_seq_num, coalesce(corp_nme, ''),
		max(corp_name_seq_num) OVER (PARTITION BY corp_num), end_event_id IS NULL AND corp_name_typ_cd IN ('CO', 'NB')
		FROM bc_registries.corp_name WHERE corp_num = ANY($1) ORDER BY corp_num, corp_name_seq_num`, nums)
	if err != nil {
		return fmt.Errorf("testdata: read names of %d corps: %w", len(nums), err)
	}
	var maxSeq int64
	var open bool
	_, err = pgx.ForEachRow(rows, []any{&num, &k, &s, &maxSeq, &open}, func() error {
		c := corps[num]
		c.maxSeq = maxSeq
		if open {
			c.nameSeq, c.name = k, s
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testdata: read names: %w", err)
	}
	rows, err = pool.Query(ctx, `SELECT corp_num, office_typ_cd, start_event_id FROM bc_registries.office
		WHERE corp_num = ANY($1) AND end_event_id IS NULL AND office_typ_cd IN ('RG', 'HD', 'FO')`, nums)
	if err != nil {
		return fmt.Errorf("testdata: read open offices of %d corps: %w", len(nums), err)
	}
	_, err = pgx.ForEachRow(rows, []any{&num, &s, &k}, func() error {
		corps[num].offices[s] = k
		return nil
	})
	if err != nil {
		return fmt.Errorf("testdata: read open offices: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
