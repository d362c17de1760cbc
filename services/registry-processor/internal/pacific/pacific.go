// Package pacific writes COLIN's naive Pacific wall-clock times as the
// original event processor's CustomJsonEncoder did: localized with pytz
// (timezone "PST8PDT", localize with its default is_dst=False), converted
// to UTC and printed by datetime.isoformat with "+00:00".
//
// Which tz data: the original pins pytz 2024.2, built from tzdata 2024b, in
// which PST8PDT is a link to America/Los_Angeles. pytz reads only the
// 32-bit (version 1) part of its zone files, so its table for that zone
// starts with local mean time (-7:52:58, rounded by pytz to -7:53) until
// the earliest 32-bit instant, 1901-12-13 20:45:52 UTC, and ends with the
// last transition that fits, 2037-11-01 09:00 UTC, after which it is PST
// for ever (no DST from 2038 on). This package reproduces that table from
// Go's embedded America/Los_Angeles, pytz's rounding, and its choice for
// wall times that occur twice or not at all.
package pacific

import (
	"fmt"
	"time"
	_ "time/tzdata" // the same zone data on every machine, whatever it has installed
)

var la = mustLoad()

func mustLoad() *time.Location {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		// Cannot happen: the zone is embedded by the tzdata import.
		panic(fmt.Sprintf("load America/Los_Angeles from embedded tzdata: %v", err))
	}
	return loc
}

var (
	// MinStart is MIN_START_DATE, datetime(2, 1, 1), naive.
	MinStart = time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC)
	// MinValid is MIN_VALID_DATE, datetime(11, 1, 1): filter_min_date
	// turns anything earlier into "".
	MinValid = time.Date(11, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxEnd is MAX_END_DATE, datetime(9998, 12, 31): the effective end
	// of a row that is still open.
	MaxEnd = time.Date(9998, 12, 31, 0, 0, 0, 0, time.UTC)

	// pytz's localize looks one day either side of the value; Python's
	// datetime range is years 1..9999, so outside these bounds it raises
	// OverflowError and the encoder writes a clamp instead.
	lowest  = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	highest = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

	// MinStartISO and MaxEndISO are the encoder's clamps:
	// MIN_START_DATE_TZ and MAX_END_DATE_TZ in UTC.
	MinStartISO = convert(MinStart)
	MaxEndISO   = convert(MaxEnd)
)

// ISO is CustomJsonEncoder.default for a naive Pacific datetime. Only the
// wall clock of t counts (its location is ignored). Values pytz cannot
// localize (before 0001-01-02 or from 9999-12-31 on) become MinStartISO
// when the year is ≤ 2 and MaxEndISO when it is ≥ 9998, as the encoder's
// exception handler does. Sub-microsecond digits are dropped: Python and
// PostgreSQL keep microseconds.
func ISO(t time.Time) string {
	w := wall(t)
	if w.Before(lowest) {
		return MinStartISO
	}
	if !w.Before(highest) {
		return MaxEndISO
	}
	return convert(w)
}

func convert(w time.Time) string {
	u := w.Add(-time.Duration(offset(w)) * time.Second)
	s := u.Format("2006-01-02T15:04:05")
	if us := u.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}

// UTC is the instant ISO prints, for callers that compare instants.
func UTC(t time.Time) time.Time {
	w := wall(t)
	return w.Add(-time.Duration(offset(w)) * time.Second)
}

func wall(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond()/1000*1000, time.UTC)
}

type zinfo struct {
	off int // seconds east of UTC, rounded to whole minutes as pytz does
	dst bool
}

var (
	pytzFirst = time.Unix(-1<<31, 0).UTC()                   // 1901-12-13 20:45:52
	pytzLast  = time.Date(2037, 11, 1, 9, 0, 0, 0, time.UTC) // last v1 transition
)

// at is the zone in force at an instant given as a UTC wall clock, by
// pytz's table.
func at(instant time.Time) zinfo {
	if instant.Before(pytzFirst) {
		return zinfo{off: roundMinute(-(7*3600 + 52*60 + 58))}
	}
	if !instant.Before(pytzLast) {
		return zinfo{off: -8 * 3600}
	}
	lt := instant.In(la)
	_, off := lt.Zone()
	return zinfo{off: roundMinute(off), dst: lt.IsDST()}
}

// roundMinute is pytz's int((utcoffset + 30) // 60) * 60 (floor division).
func roundMinute(off int) int {
	n := off + 30
	q := n / 60
	if n%60 != 0 && n < 0 {
		q--
	}
	return q * 60
}

// offset is pytz's DstTzInfo.localize(w, is_dst=False).utcoffset(): the
// zones in force a day either side are the candidates; a candidate fits
// when the wall clock read with it maps back to itself. No fit (the
// spring-forward gap): the zone of six hours earlier, i.e. standard time.
// Two fits (the fall-back hour): the non-DST one, else the one with the
// later UTC instant.
func offset(w time.Time) int {
	var fits []zinfo
	for _, d := range []time.Duration{-24 * time.Hour, 24 * time.Hour} {
		c := at(w.Add(d))
		if at(w.Add(-time.Duration(c.off)*time.Second)).off != c.off {
			continue
		}
		dup := false
		for _, f := range fits {
			dup = dup || f == c
		}
		if !dup {
			fits = append(fits, c)
		}
	}
	switch len(fits) {
	case 0:
		return offset(w.Add(-6 * time.Hour))
	case 1:
		return fits[0].off
	}
	var std []zinfo
	for _, f := range fits {
		if !f.dst {
			std = append(std, f)
		}
	}
	if len(std) == 1 {
		return std[0].off
	}
	if len(std) == 0 {
		std = fits
	}
	best := std[0]
	for _, f := range std[1:] {
		if f.off < best.off { // a smaller offset is a later UTC instant
			best = f
		}
	}
	return best.off
}

// Now is the registry's wall clock now: naive Pacific time, the way COLIN
// writes times (location UTC, only the wall clock counts).
func Now() time.Time {
	n := time.Now().In(la)
	return time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), n.Second(), n.Nanosecond(), time.UTC)
}
