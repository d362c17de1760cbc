package epdb

import (
	"strconv"

	"tributary.dev/services/registry-processor/internal/pacific"
)

// EventJSON is the original's event_json: json.dumps of {"event_id",
// "event_date"} with sorted keys, the naive Pacific date written by the
// same encoder as the credentials' dates, so the two never disagree.
func EventJSON(m Mark, dates pacific.Rules) string {
	return `{"event_date": "` + dates.ISO(m.EventDate) + `", "event_id": ` + strconv.FormatInt(m.EventID, 10) + `}`
}
