// Package pacific writes COLIN's naive Pacific wall-clock times as the
// original event processor's CustomJsonEncoder did: localized with pytz
// (timezone "PST8PDT", localize with its default is_dst=False), converted
// to UTC and printed by datetime.isoformat with "+00:00".
//
// Which tz data decides the output, and the original left pytz unpinned,
// so it depends on the image it ran in. Two sets of Rules:
//
//   - Pre2024b: every pytz before 2024.2 (tzdata before 2024b), what the
//     deployment of 2022 ran. PST8PDT was a zone of its own on the US
//     rules: -08:00 before 1918 (so MIN_START_DATE prints
//     0002-01-01T08:00:00+00:00), the US daylight time of 1918-1919 and
//     the war, none from 1946 to 1966, and the US rules from 1967.
//   - Tz2024b: pytz 2024.2 and later, where PST8PDT is a link to
//     America/Los_Angeles: local mean time (-7:52:58, rounded by pytz to
//     -7:53) before 1901-12-13 20:45:52 UTC, California's daylight time
//     of 1948-1966.
//
// Both share pytz's limits: it reads only the 32-bit (version 1) part of
// the zone files, whose table ends with the last transition that fits,
// 2037-11-01 09:00 UTC, after which it is PST for ever. This package
// rebuilds both tables from Go's embedded America/Los_Angeles (which
// follows the US rules outside 1946-1966), pytz's rounding, and its choice
// for wall times that occur twice or not at all.
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
)

// Rules are the tz data of the original's pytz.
type Rules int

const (
	// Pre2024b is pytz before 2024.2: PST8PDT on the US rules.
	Pre2024b Rules = iota
	// Tz2024b is pytz 2024.2 and later: PST8PDT is America/Los_Angeles.
	Tz2024b
)

// ParseRules reads PYTZ_TZDATA: "pre-2024b" or "2024b".
func ParseRules(s string) (Rules, error) {
	switch s {
	case "pre-2024b":
		return Pre2024b, nil
	case "2024b":
		return Tz2024b, nil
	}
	return 0, fmt.Errorf("%q: want pre-2024b (pytz before 2024.2) or 2024b (pytz 2024.2 and later)", s)
}

func (r Rules) String() string {
	if r == Tz2024b {
		return "2024b"
	}
	return "pre-2024b"
}

// MinStartISO is the encoder's low clamp, MIN_START_DATE_TZ in UTC.
func (r Rules) MinStartISO() string { return r.convert(MinStart) }

// MaxEndISO is the encoder's high clamp, MAX_END_DATE_TZ in UTC.
func (r Rules) MaxEndISO() string { return r.convert(MaxEnd) }

// ISO is CustomJsonEncoder.default for a naive Pacific datetime. Only the
// wall clock of t counts (its location is ignored). Values pytz cannot
// localize (before 0001-01-02 or from 9999-12-31 on) become MinStartISO
// when the year is ≤ 2 and MaxEndISO when it is ≥ 9998, as the encoder's
// exception handler does. Sub-microsecond digits are dropped: Python and
// PostgreSQL keep microseconds.
func (r Rules) ISO(t time.Time) string {
	w := wall(t)
	if w.Before(lowest) {
		return r.MinStartISO()
	}
	if !w.Before(highest) {
		return r.MaxEndISO()
	}
	return r.convert(w)
}

func (r Rules) convert(w time.Time) string {
	u := w.Add(-time.Duration(r.offset(w)) * time.Second)
	s := u.Format("2006-01-02T15:04:05")
	if us := u.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}

// UTC is the instant ISO prints, for callers that compare instants.
func (r Rules) UTC(t time.Time) time.Time {
	w := wall(t)
	return w.Add(-time.Duration(r.offset(w)) * time.Second)
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
	pytzFirst = time.Unix(-1<<31, 0).UTC()                   // 1901-12-13 20:45:52, 2024b's first entry
	pytzLast  = time.Date(2037, 11, 1, 9, 0, 0, 0, time.UTC) // last v1 transition
	pst       = zinfo{off: -8 * 3600}

	// The US rules and America/Los_Angeles differ only here: the US had
	// no daylight time from the end of the war (1945-09-30) until 1967,
	// California had its own from 1948 to 1966. Neither had a transition
	// between 1945-09-30 and 1948-03-14, nor in 1967 before April.
	usQuietFrom = time.Date(1946, 1, 1, 0, 0, 0, 0, time.UTC)
	usQuietTo   = time.Date(1967, 1, 1, 0, 0, 0, 0, time.UTC)
	// Before 1918 the US had no daylight time; America/Los_Angeles was
	// PST from 1883 (and LMT before, which the old PST8PDT never had).
	usFirst = time.Date(1918, 1, 1, 0, 0, 0, 0, time.UTC)
)

// at is the zone in force at an instant given as a UTC wall clock, by
// pytz's table for the rules.
func (r Rules) at(instant time.Time) zinfo {
	switch {
	case !instant.Before(pytzLast):
		return pst
	case r == Tz2024b && instant.Before(pytzFirst):
		return zinfo{off: roundMinute(-(7*3600 + 52*60 + 58))}
	case r == Pre2024b && (instant.Before(usFirst) || (!instant.Before(usQuietFrom) && instant.Before(usQuietTo))):
		return pst
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
func (r Rules) offset(w time.Time) int {
	var fits []zinfo
	for _, d := range []time.Duration{-24 * time.Hour, 24 * time.Hour} {
		c := r.at(w.Add(d))
		if r.at(w.Add(-time.Duration(c.off)*time.Second)).off != c.off {
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
		return r.offset(w.Add(-6 * time.Hour))
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

// Evidence says which rules wrote a date string of the encoder, when it
// tells: the low clamp, or a local midnight before 1901-12-13 (which
// Pre2024b prints at 08:00 UTC and Tz2024b at 07:53). ok is false for
// every other string.
func Evidence(iso string) (r Rules, ok bool) {
	switch iso {
	case Pre2024b.MinStartISO():
		return Pre2024b, true
	case Tz2024b.MinStartISO():
		return Tz2024b, true
	}
	if len(iso) != len("1900-01-01T08:00:00+00:00") || iso[10] != 'T' || iso[19:] != "+00:00" || iso[:10] >= "1901-12-13" {
		return 0, false
	}
	switch iso[11:19] {
	case "08:00:00":
		return Pre2024b, true
	case "07:53:00":
		return Tz2024b, true
	}
	return 0, false
}

// Now is the registry's wall clock now: naive Pacific time, the way COLIN
// writes times (location UTC, only the wall clock counts).
func Now() time.Time {
	n := time.Now().In(la)
	return time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), n.Second(), n.Nanosecond(), time.UTC)
}
