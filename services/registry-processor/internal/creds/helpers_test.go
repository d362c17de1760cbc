package creds

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
)

// at is a naive Pacific wall time.
func at(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }

// now is the "current_date" of every scenario unless it says otherwise.
var now = at(2026, 6, 1, 12, 0)

// all is the initial-load window: PREV (0, 0001-01-01), LAST far ahead.
var all = Window{PrevEventID: 0, PrevEventDate: at(1, 1, 1, 0, 0), LastEventID: 1 << 40, LastEventDate: now}

type corpB struct{ c *model.Corp }

func corp(num, typ, class string, recognition *time.Time) *corpB {
	return &corpB{c: &model.Corp{Num: num, TypeCd: typ, Class: class, RecognitionDts: recognition, Events: map[int64]*model.Event{}}}
}

type evOpt func(*model.Event)

func filing(cd string, eff *time.Time) evOpt {
	return func(e *model.Event) { e.TypeCd, e.FilingTypeCd, e.FilingEffective = "FILE", cd, eff }
}
func trigger(t time.Time) evOpt { return func(e *model.Event) { e.Trigger = &t } }

func (b *corpB) ev(id int64, typ string, ts time.Time, opts ...evOpt) *corpB {
	e := &model.Event{ID: id, Corp: b.c.Num, TypeCd: typ, Timestamp: ts}
	for _, o := range opts {
		o(e)
	}
	b.c.Events[id] = e
	return b
}

func (b *corpB) name(typ string, seq int, start int64, end *int64, name string) *corpB {
	b.c.Names = append(b.c.Names, model.Name{TypeCd: typ, Seq: seq, Start: start, End: end, Name: &name})
	return b
}

func (b *corpB) state(start int64, end *int64, typ, op string) *corpB {
	b.c.States = append(b.c.States, model.State{Start: start, End: end, StateTypCd: typ, OpState: op})
	return b
}

func (b *corpB) jur(start int64, end *int64, cd string, desc *string) *corpB {
	b.c.Jurisdictions = append(b.c.Jurisdictions, model.Jurisdiction{Start: start, End: end, CanJurTypCd: cd, OthrJurisDesc: desc})
	return b
}

func (b *corpB) office(typ string, start int64, end *int64, a *model.Address) *corpB {
	o := model.Office{TypeCd: typ, Start: start, End: end, Delivery: a}
	if a != nil {
		o.DeliveryAddrID = &a.ID
	}
	b.c.Offices = append(b.c.Offices, o)
	return b
}

// fbo adds a firm's FBO row naming this corp as its owner.
func (b *corpB) fbo(id int64, firm *model.CorpRef, start int64, end *int64) *corpB {
	b.c.Parties = append(b.c.Parties, model.Party{ID: id, CorpNum: firm.Num, BusCompanyNum: &b.c.Num, PartyTypCd: "FBO", Start: start, End: end, Other: firm})
	return b
}

func (b *corpB) bn(bn string) *corpB { b.c.BN9 = &bn; return b }

func addr(id int64, line1, city, prov, postal, country string) *model.Address {
	return &model.Address{ID: id, Line1: &line1, City: &city, Province: &prov, PostalCd: &postal, CountryTypCd: &country}
}

// regBase is a REG attribute set with the fields no scenario varies.
func regBase(over map[string]string) map[string]string {
	m := map[string]string{
		"registration_expiry_date": "", "registration_renewal_effective": "",
		"entity_name_trans": "", "entity_name_trans_effective": "",
		"entity_name_assumed": "", "entity_name_assumed_effective": "",
		"extra_jurisdictional_registration": "", "expiry_date": "",
		"home_jurisdiction": "BC", "registered_jurisdiction": "",
	}
	maps.Copy(m, over)
	return m
}

func types(cs []Credential) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.TypeCd)
	}
	return strings.Join(s, ",")
}

// checkCred asserts a credential field by field, and that its JSON is
// the Python print of exactly those attributes.
func checkCred(t *testing.T, got Credential, typ, id, reason string, want map[string]string) {
	t.Helper()
	if got.TypeCd != typ || got.ID != id || got.Reason != reason || got.Version != "1.0.42" {
		t.Errorf("%s %s: got type %s id %s reason %q version %s; want %s %s %q", typ, id, got.TypeCd, got.ID, got.Reason, got.Version, typ, id, reason)
	}
	wantSchema := map[string]string{"REG": SchemaREG, "ADDR": SchemaADDR, "REL": SchemaREL, "BNC": SchemaBNC}[typ]
	if got.Schema != wantSchema {
		t.Errorf("%s: schema %s, want %s", typ, got.Schema, wantSchema)
	}
	if got.Held != (typ == "ADDR") {
		t.Errorf("%s: Held %v", typ, got.Held)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got.Attrs[k]; !ok || g != want[k] {
			t.Errorf("%s %s: %s = %q (present %v), want %q", typ, id, k, g, ok, want[k])
		}
	}
	for k := range got.Attrs {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: unexpected attribute %s = %q", typ, id, k, got.Attrs[k])
		}
	}
	if js := Dumps(want); got.JSON != js {
		t.Errorf("%s %s: JSON\n got  %s\n want %s", typ, id, got.JSON, js)
	}
	// The hash is SHA-256 of the JSON's bytes, computed here apart from
	// the code under test.
	if sum := sha256.Sum256([]byte(got.JSON)); got.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("%s %s: hash %s is not the JSON's SHA-256", typ, id, got.Hash)
	}
}

func mustOK(t *testing.T, r Result) {
	t.Helper()
	if r.Held != "" || r.Skip != "" || r.Withdrawn {
		t.Fatalf("unexpected outcome: held %q skip %q withdrawn %v", r.Held, r.Skip, r.Withdrawn)
	}
}
