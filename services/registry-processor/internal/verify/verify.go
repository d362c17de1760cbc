// Package verify regenerates corps' credentials from the source and
// compares them with what credential_log holds, changing nothing. An
// operator runs it on their own database before switching over from the
// original: a credential we would generate that credential_log lacks would
// be issued when the corp next changes, and a row we would not generate
// shows the two disagree about that corp's history.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"tributary.dev/services/registry-processor/internal/colin"
	"tributary.dev/services/registry-processor/internal/creds"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// Selection is which corps to verify: Corps, or every corp of the source
// from From to To (inclusive, by corp_num; "" is open).
type Selection struct {
	Corps    []string
	From, To string
}

// Summary counts what was compared.
type Summary struct {
	Corps       int // corps compared
	Differ      int // corps with a difference
	Regenerated int // credentials regenerated
	New         int // regenerated, not in credential_log: would be issued
	Changed     int // of New, those with a logged credential of the same type, id and effective date (the rest is wholly new)
	OnlyLogged  int // in credential_log, not regenerated
	Unloadable  int // corps whose history cannot be generated (the message says why)
}

// Clean says nothing differs.
func (s Summary) Clean() bool { return s.Differ == 0 }

// Verifier compares.
type Verifier struct {
	Src   *colin.Source
	DB    *epdb.DB
	Dates pacific.Rules
	Batch int // corps loaded together; 500 when zero
	// Now is the naive Pacific present; nil: pacific.Now.
	Now func() time.Time
}

// Run compares the selected corps, writing a line per difference to w.
func (v *Verifier) Run(ctx context.Context, sel Selection, w io.Writer) (Summary, error) {
	if v.Batch <= 0 {
		v.Batch = 500
	}
	now := pacific.Now()
	if v.Now != nil {
		now = v.Now()
	}
	hw, err := v.DB.HighWater(ctx)
	if err != nil {
		return Summary{}, err
	}
	if hw.EventID == 0 {
		return Summary{}, fmt.Errorf("verify: the high-water mark is event 0: nothing was processed yet")
	}
	var sum Summary
	check := func(nums []string, named bool) error {
		if len(nums) == 0 {
			return nil
		}
		corps, err := v.Src.Load(ctx, nums)
		if err != nil {
			return err
		}
		logged, err := v.DB.CredentialsOf(ctx, nums)
		if err != nil {
			return err
		}
		// Each corp's whole history, up to the furthest its processed
		// queue rows reached (the high-water mark when none did): the
		// window every generation so far covered together.
		reached, err := v.DB.Reached(ctx, nums)
		if err != nil {
			return err
		}
		for _, n := range nums {
			if !named && corps[n] == nil && len(logged[n]) == 0 {
				continue // a range's bound that names no corp
			}
			last := hw
			if r, ok := reached[n]; ok && r.EventDate.After(last.EventDate) {
				last = r
			}
			win := creds.Window{PrevEventID: 0, PrevEventDate: epdb.MinEventDate, LastEventID: last.EventID, LastEventDate: last.EventDate}
			if err := v.compare(w, n, corps[n], logged[n], win, now, &sum); err != nil {
				return err
			}
		}
		return nil
	}
	if len(sel.Corps) > 0 {
		for i := 0; i < len(sel.Corps); i += v.Batch {
			if err := check(sel.Corps[i:min(i+v.Batch, len(sel.Corps))], true); err != nil {
				return sum, err
			}
		}
		return sum, nil
	}
	after := ""
	if sel.From != "" {
		// CorpsBetween pages after its cursor: the lower bound itself first.
		after = sel.From
		if err := check([]string{sel.From}, false); err != nil {
			return sum, err
		}
	}
	for {
		page, err := v.Src.CorpsBetween(ctx, after, sel.To, v.Batch)
		if err != nil {
			return sum, err
		}
		if len(page) == 0 {
			return sum, nil
		}
		after = page[len(page)-1]
		if err := check(page, false); err != nil {
			return sum, err
		}
	}
}

func (v *Verifier) compare(w io.Writer, num string, c *model.Corp, logged []epdb.LoggedCred, win creds.Window, now time.Time, sum *Summary) error {
	sum.Corps++
	res := creds.Generate(c, win, now, v.Dates)
	var lines []string
	if res.Held != "" {
		sum.Unloadable++
		lines = append(lines, "  ! cannot be generated: "+res.Held)
	}
	have := map[string]epdb.LoggedCred{}
	for _, l := range logged {
		have[l.Hash] = l
	}
	made := map[string]bool{}
	for _, cr := range res.Creds {
		sum.Regenerated++
		made[cr.Hash] = true
		if _, ok := have[cr.Hash]; ok {
			continue
		}
		sum.New++
		if l, ok := counterpart(logged, cr, made); ok {
			sum.Changed++
			lines = append(lines, fmt.Sprintf("  ~ %s %s effective %s: credential_log record %d differs: %s", cr.TypeCd, cr.ID,
				cr.Attrs["effective_date"], l.RecordID, attrDiff(l.JSON, cr.JSON)))
			continue
		}
		lines = append(lines, fmt.Sprintf("  + %s %s would be issued: %s", cr.TypeCd, cr.ID, cr.JSON))
	}
	for _, l := range logged {
		if made[l.Hash] {
			continue
		}
		sum.OnlyLogged++
		lines = append(lines, fmt.Sprintf("  - %s %s only in credential_log (record %d, %s): %s", l.TypeCd, l.ID, l.RecordID, status(l.Success), l.JSON))
	}
	if len(lines) == 0 {
		return nil
	}
	sum.Differ++
	what := "not in the source"
	if c != nil {
		what = c.TypeCd
	}
	if _, err := fmt.Fprintf(w, "corp %s (%s):\n%s\n", num, what, strings.Join(lines, "\n")); err != nil {
		return err
	}
	return nil
}

func status(s string) string {
	if s == "" {
		return "outstanding"
	}
	return "process_success " + s
}

// counterpart is the logged credential a regenerated one replaces: the
// same type and credential id and the same effective date, not itself
// regenerated.
func counterpart(logged []epdb.LoggedCred, cr creds.Credential, made map[string]bool) (epdb.LoggedCred, bool) {
	for _, l := range logged {
		if made[l.Hash] || l.TypeCd != cr.TypeCd || l.ID != cr.ID {
			continue
		}
		var a map[string]any
		if json.Unmarshal([]byte(l.JSON), &a) == nil && a["effective_date"] == cr.Attrs["effective_date"] {
			return l, true
		}
	}
	return epdb.LoggedCred{}, false
}

// attrDiff names the attributes that differ: key "logged" → "regenerated".
func attrDiff(logged, regen string) string {
	var a, b map[string]any
	_ = json.Unmarshal([]byte(logged), &a)
	_ = json.Unmarshal([]byte(regen), &b)
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		x, okx := a[k]
		y, oky := b[k]
		if okx && oky && fmt.Sprint(x) == fmt.Sprint(y) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s → %s", k, show(x, okx), show(y, oky)))
	}
	if len(out) == 0 {
		return "the same attributes, printed differently: " + logged + " → " + regen
	}
	return strings.Join(out, "; ")
}

func show(v any, ok bool) string {
	if !ok {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
