package epdb

import (
	"context"
	"fmt"
	"regexp"

	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// DateEvidence is what credential_log says about the tz rules that wrote
// it: the newest row whose JSON holds a date only one set of rules prints
// (the minimum date, or a local midnight before 1901-12-13), and how many
// of the rows looked at point each way.
type DateEvidence struct {
	Found    bool
	Rules    pacific.Rules // of the newest row with evidence
	RecordID int64
	Corp     string
	Column   string // prev_event, last_event or credential_json
	Value    string // the date string that tells
	Pre2024b int    // rows (of the newest evidenceLimit looked at) written before 2024b
	Tz2024b  int    // ... and after
}

// evidenceLimit bounds how many rows with such dates are read, newest
// first: the newest tell what the original ran last.
const evidenceLimit = 1000

var isoDate = regexp.MustCompile(`"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00)"`)

// DatesWritten looks for the evidence, newest rows first. Every row the
// original's initial load queued has the minimum date in prev_event, so a
// database it loaded always tells; one that holds neither kind of date
// does not, and any setting is consistent with it.
func (d *DB) DatesWritten(ctx context.Context) (DateEvidence, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
		SELECT record_id, corp_num, prev_event::text, last_event::text, credential_json::text FROM credential_log
		WHERE system_type_cd = $1
		  AND (prev_event::text LIKE '%"0002-01-01T0%' OR last_event::text LIKE '%"0002-01-01T0%'
		       OR credential_json::text ~ '"(1[0-8][0-9][0-9]|190[01])-')
		ORDER BY record_id DESC LIMIT $2`, model.System, evidenceLimit)
	if err != nil {
		return DateEvidence{}, fmt.Errorf("look for the dates credential_log was written with: %w", err)
	}
	defer rows.Close()
	var ev DateEvidence
	for rows.Next() {
		var id int64
		var corp, prev, last, body string
		if err := rows.Scan(&id, &corp, &prev, &last, &body); err != nil {
			return DateEvidence{}, fmt.Errorf("look for the dates credential_log was written with: %w", err)
		}
		seen := map[pacific.Rules]bool{}
		for _, col := range []struct{ name, text string }{{"prev_event", prev}, {"last_event", last}, {"credential_json", body}} {
			for _, m := range isoDate.FindAllStringSubmatch(col.text, -1) {
				r, ok := pacific.Evidence(m[1])
				if !ok {
					continue
				}
				seen[r] = true
				if !ev.Found {
					ev = DateEvidence{Found: true, Rules: r, RecordID: id, Corp: corp, Column: col.name, Value: m[1]}
				}
			}
		}
		if seen[pacific.Pre2024b] {
			ev.Pre2024b++
		}
		if seen[pacific.Tz2024b] {
			ev.Tz2024b++
		}
	}
	if err := rows.Err(); err != nil {
		return DateEvidence{}, fmt.Errorf("look for the dates credential_log was written with: %w", err)
	}
	return ev, nil
}

// CheckDates refuses a setting that disagrees with what credential_log
// was written with: a wrong one changes every hash with such a date, and
// the credentials would be issued again.
func (d *DB) CheckDates(ctx context.Context, setting pacific.Rules) (DateEvidence, error) {
	ev, err := d.DatesWritten(ctx)
	if err != nil {
		return ev, err
	}
	if !ev.Found || ev.Rules == setting {
		return ev, nil
	}
	return ev, fmt.Errorf("PYTZ_TZDATA=%s disagrees with credential_log: row %d (corp %s) has %s %q, which only pytz %s printed "+
		"(of the newest %d rows with such dates, %d were written before 2024b and %d after). Set PYTZ_TZDATA=%s to match the original, "+
		"or its credentials would get new hashes and be issued again", setting, ev.RecordID, ev.Corp, ev.Column, ev.Value,
		pytzName(ev.Rules), ev.Pre2024b+ev.Tz2024b, ev.Pre2024b, ev.Tz2024b, ev.Rules)
}

func pytzName(r pacific.Rules) string {
	if r == pacific.Tz2024b {
		return "2024.2 or later"
	}
	return "before 2024.2"
}
