package epdb

import (
	"strconv"
	"time"
)

var pacific = mustZone("America/Vancouver")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("epdb: time zone " + name + ": " + err.Error())
	}
	return loc
}

// DefaultEventJSON is the original's event_json: json.dumps of
// {"event_id", "event_date"} with sorted keys, the naive Pacific date
// written as UTC ISO with "+00:00". Times that do not exist or occur
// twice on the clock are read as standard time, as pytz's localize does
// by default; years out of the converter's range clamp to the original's
// MIN_START_DATE and MAX_END_DATE.
func DefaultEventJSON(m Mark) string {
	return `{"event_date": "` + pacificISO(m.EventDate) + `", "event_id": ` + strconv.FormatInt(m.EventID, 10) + `}`
}

// pacificISO converts a naive Pacific wall-clock time to UTC ISO-8601.
func pacificISO(t time.Time) string {
	switch {
	case t.Year() <= 1:
		return "0002-01-01T08:00:00+00:00"
	case t.Year() >= 9999:
		return "9998-12-31T08:00:00+00:00"
	}
	var u time.Time
	if t.Year() < 1900 {
		// Before standard time zones PST8PDT is plain UTC-8 (no local
		// mean time), which is what the original's pytz applied.
		u = t.Add(8 * time.Hour)
	} else {
		std, dst := t.Add(8*time.Hour), t.Add(7*time.Hour)
		u = std
		if wall(dst).Equal(t) && !wall(std).Equal(t) {
			u = dst
		}
	}
	layout := "2006-01-02T15:04:05"
	if u.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return u.Format(layout) + "+00:00"
}

// wall is the Pacific wall clock of the instant whose UTC clock is u.
func wall(u time.Time) time.Time {
	p := time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), time.UTC).In(pacific)
	return time.Date(p.Year(), p.Month(), p.Day(), p.Hour(), p.Minute(), p.Second(), p.Nanosecond(), time.UTC)
}
