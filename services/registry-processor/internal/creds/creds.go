// Package creds turns one corporation's loaded history (model.Corp) into
// the credentials the original BC Registries event processor generated for
// it, byte for byte: the same attribute dicts, the same JSON and hash, in
// the same order (REG history, ADDR, REL, BNC). It follows the COLIN-only
// pipeline as it stood before LEAR (eventprocessor.generate_credentials,
// bcregistries.get_bc_reg_corp_info and the per-corp outcome rules of
// process_corp_event_queue_internal), including its quirks, because an
// operator may switch between the two implementations mid-stream and the
// unique credential_hash must keep deduplicating across them.
//
// Generate does no I/O and never panics: a corp whose data made the
// original raise (a row naming an event that is not there, a FILE event
// without its filing) comes back with Held set and no credentials.
package creds

import (
	"fmt"
	"time"

	"tributary.dev/services/registry-processor/internal/creds/pyjson"
	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// Credential type codes (credential_log.credential_type_cd).
const (
	TypeREG  = "REG"
	TypeADDR = "ADDR"
	TypeREL  = "REL"
	TypeBNC  = "BNC"
)

// Schema names and the version all of them carry.
const (
	SchemaREG     = "registration.registries.ca"
	SchemaADDR    = "address.registries.ca"
	SchemaREL     = "relationship.registries.ca"
	SchemaBNC     = "business_number.registries.ca"
	SchemaVersion = "1.0.42"
)

// Window is the queue row's range (naive Pacific times).
type Window struct {
	PrevEventID   int64
	PrevEventDate time.Time
	LastEventID   int64
	LastEventDate time.Time
}

// Credential is one credential_log row to be.
type Credential struct {
	TypeCd  string // REG, ADDR, REL, BNC
	ID      string // credential_id (REG: raw corp num; ADDR: corp,office; REL/BNC: prefixed id)
	Schema  string
	Version string
	JSON    string // credential_json: the attribute dict as Python prints it
	Hash    string // credential_hash
	Reason  string // credential_reason (Filing:<cd> / Event:<cd>), "" for BNC
	Held    bool   // ADDR: stored with process_success 'A' and process_date now, never posted
	// Attrs are the attributes as strings (dates in their JSON form). A
	// value that is null in JSON (a NULL name copied as it is) is "" here:
	// JSON is the authority, and what the poster should send.
	Attrs map[string]string
}

// Result is what became of one queue row's corp.
type Result struct {
	CorpState string       // corp_state column: ACT, HIS or N/A (active state row's op state)
	Creds     []Credential // in the original's generation order: REG history, ADDR, REL, BNC
	Skip      string       // non-empty: out of scope, queue row 'S' with this message
	Withdrawn bool         // HWT: no credentials; history row process_msg "Withdrawn"
	Requeue   *Window      // future-dated events: queue again with this window
	Release   time.Time    // the requeued row is due at the first future event's effective date
	// CorpJSON is corp_history_log.corp_json as the original wrote it,
	// for a corp in scope whose history loaded ("" otherwise).
	CorpJSON string
	// Held is non-empty when a problem on this corp (broken link, bad
	// data) held all its credentials back: the queue row gets 'N' with
	// this message, as the original's exception text put it there.
	Held string
	// Warnings name problems that cost one credential but not the corp
	// (an office whose delivery address row is missing: the original
	// silently made no address credential for it). For the logs and
	// process_msg; the queue row is still 'Y'.
	Warnings []string
}

// inScope is COLIN-2022's CORP_TYPES_IN_SCOPE (FI and PAR commented out;
// GP and SP still in, before they moved to LEAR).
var inScope = map[string]bool{
	"A": true, "B": true, "BC": true, "BEN": true, "C": true, "CC": true, "CP": true,
	"CS": true, "CUL": true, "EPR": true, "FOR": true, "GP": true, "LIC": true, "LL": true,
	"LLC": true, "LP": true, "MF": true, "PA": true, "QA": true, "QB": true, "QC": true,
	"QD": true, "QE": true, "REG": true, "S": true, "SP": true, "ULC": true, "XCP": true,
	"XL": true, "XP": true, "XS": true,
}

// InScope says whether COLIN-2022 generated credentials for a corp type.
func InScope(corpTypeCd string) bool { return inScope[corpTypeCd] }

// RegistrationID is the corp number as credentials name it: BC, ULC, CC
// and BEN corps get "BC" in front (COLIN-2022 has no exception for
// numbers that already carry a prefix).
func RegistrationID(corpNum, corpTypeCd string) string {
	switch corpTypeCd {
	case "BC", "ULC", "CC", "BEN":
		return "BC" + corpNum
	}
	return corpNum
}

// Dumps prints attrs exactly as Python's json.dumps(attrs, sort_keys=True).
func Dumps(attrs map[string]string) string { return pyjson.Dumps(attrs) }

// Hash is the lowercase hex SHA-256 of a credential's JSON.
func Hash(json string) string { return pyjson.Hash(json) }

// Generate builds the credentials for one queue row: c is the corp as
// loaded, w the row's window, now the naive Pacific "current_date" of the
// load (events effective after it are future events), dates the tz rules
// the original's pytz printed dates with.
func Generate(c *model.Corp, w Window, now time.Time, dates pacific.Rules) (res Result) {
	if c == nil || c.Num == "" {
		// No corporation row: the original's corp_typ_cd is '' and the
		// scope check skips it.
		return Result{CorpState: "N/A", Skip: ": Skipped, not in scope"}
	}
	if !InScope(c.TypeCd) {
		return Result{CorpState: "N/A", Skip: c.TypeCd + ": Skipped, not in scope"}
	}
	defer func() {
		// Generation has no business panicking; if a case slipped past
		// the checks, hold this corp rather than stop the run.
		if r := recover(); r != nil {
			res = Result{CorpState: res.CorpState, Held: clip(fmt.Sprintf("corp %s: generating credentials: %v", c.Num, r))}
		}
	}()
	if len(c.Problems) > 0 {
		// A source row that cannot be used (a NULL where a value must
		// be): the corp is held back naming it; its batch goes on.
		more := ""
		if len(c.Problems) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(c.Problems)-1)
		}
		return Result{CorpState: "N/A", Held: clip(fmt.Sprintf("corp %s: source row unusable: %s%s", c.Num, c.Problems[0], more))}
	}
	g, err := load(c, now)
	if err != nil {
		return Result{CorpState: "N/A", Held: clip(fmt.Sprintf("corp %s: loading history: %v", c.Num, err))}
	}
	res.CorpState = "N/A"
	res.CorpJSON = g.corpJSON(dates)
	active := g.activeState()
	if active != nil {
		res.CorpState = active.opState
	}
	past, future := g.pastAndFuture()
	if active != nil && active.stateTyp == "HWT" {
		res.Withdrawn = true
		return res
	}
	if len(future) > 0 {
		res.Requeue, res.Release = requeueWindow(future)
	}
	if len(past) == 0 {
		return res
	}
	raw, warnings, err := g.generate(past, w)
	res.Warnings = warnings
	if err != nil {
		// The original still queued the future events again when
		// generation failed, so Requeue stays.
		res.Held = clip(fmt.Sprintf("corp %s: generating credentials: %v", c.Num, err))
		return res
	}
	for _, rc := range raw {
		eff := rc.attrs["effective_date"]
		if eff.k == kNull || (eff.k == kStr && eff.s == "") {
			// store_credentials refuses these ("can't issue a credential
			// with no effective date").
			res.Warnings = append(res.Warnings, fmt.Sprintf("corp %s: %s credential %s has no effective date; not stored", c.Num, rc.typ, rc.id))
			continue
		}
		res.Creds = append(res.Creds, rc.finish(dates))
	}
	return res
}

// clip is the original's cut of a process message: 250 characters and
// "..." when it is longer than 255.
func clip(msg string) string {
	r := []rune(msg)
	if len(r) > 255 {
		return string(r[:250]) + "..."
	}
	return msg
}
