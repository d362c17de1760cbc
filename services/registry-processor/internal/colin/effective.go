package colin

import (
	"strings"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
)

// MinDate is the effective date of event id 0, the placeholder start
// event of rows that predate COLIN's event log (the original's
// MIN_START_DATE, datetime.MINYEAR-01-01).
var MinDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// firmTypes are the corp types whose dissolution-style events carry their
// effective date in event.trigger_dts.
var firmTypes = map[string]bool{"SP": true, "GP": true, "LP": true, "XP": true, "LL": true, "XL": true, "MF": true}

// IsFirmType says whether corpTypeCd takes its effective dates from
// trigger_dts first.
func IsFirmType(corpTypeCd string) bool { return firmTypes[corpTypeCd] }

// Effective resolves an event's effective date as the original does
// (get_event_filing_effective_date), first rule that gives a value:
//  1. for firm corp types (SP, GP, LP, XP, LL, XL, MF), trigger_dts;
//  2. the filing's effective_dt (FILE events);
//  3. the conv_event's effective_dt (CONV* events);
//  4. event_timestmp.
//
// Event id 0 is MinDate. corpTypeCd "" applies no firm rule, which is how
// the original resolves names, jurisdictions, offices and the
// high-water mark.
func Effective(e *model.Event, corpTypeCd string) time.Time {
	if e.ID == 0 {
		return MinDate
	}
	if e.Trigger != nil && firmTypes[corpTypeCd] {
		return *e.Trigger
	}
	// The original only looks a filing up for FILE events and a
	// conv_event up for CONV* events; the guards keep that true even for
	// an Event built by hand.
	if e.FilingEffective != nil && e.TypeCd == "FILE" {
		return *e.FilingEffective
	}
	if e.ConvEffective != nil && strings.HasPrefix(e.TypeCd, "CONV") {
		return *e.ConvEffective
	}
	return e.Timestamp
}

// resolve sets both effective dates of e for a corp of type corpTypeCd.
func resolve(e *model.Event, corpTypeCd string) {
	e.Effective = Effective(e, corpTypeCd)
	e.EffectiveUntyped = Effective(e, "")
}
