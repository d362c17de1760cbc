package pacific

import (
	"testing"
	"time"
)

// The expected strings follow the two sets of rules as the tz database
// states them, and pytz's handling of them: for 2024b, pytz (Debian
// python3-tz 2022.7.1 over tzdata 2025b) printed
// timezone("America/Los_Angeles").localize(d).astimezone(utc).isoformat()
// — what pytz 2024.2's PST8PDT, a link to that zone since tzdata 2024b,
// gives — PST -8, PDT -7, LMT -7:52:58 rounded to -7:53 before 1901-12-13
// (pytz's 32-bit table), California's daylight time 1948-1966. Before
// 2024b, PST8PDT followed "Rule US" alone: -8 before 1918, daylight time
// 1918-1919 and in the war (1942-02-09 to 1945-09-30), none from 1946 to
// 1966, the US rules from 1967. Both: PST only after 2037, standard time
// for the missing and the repeated hour. "clamp" rows are the values pytz
// raises OverflowError on, which the encoder maps to MIN_START_DATE_TZ /
// MAX_END_DATE_TZ.
func TestISO(t *testing.T) {
	d := func(y int, mo time.Month, day, h, mi, s, us int) time.Time {
		return time.Date(y, mo, day, h, mi, s, us*1000, time.UTC)
	}
	for _, tc := range []struct {
		in        time.Time
		old, want string // pre-2024b, 2024b ("" in old: the same as 2024b)
	}{
		{d(2004, 3, 26, 12, 36, 0, 0), "", "2004-03-26T20:36:00+00:00"},
		{d(2004, 3, 26, 12, 36, 0, 123000), "", "2004-03-26T20:36:00.123000+00:00"},
		{d(1999, 12, 31, 23, 59, 59, 999999), "", "2000-01-01T07:59:59.999999+00:00"},
		{d(2010, 7, 1, 23, 30, 0, 0), "", "2010-07-02T06:30:00+00:00"},
		// spring forward 2021-03-14: 02:00-03:00 does not exist → PST.
		{d(2021, 3, 14, 1, 59, 59, 0), "", "2021-03-14T09:59:59+00:00"},
		{d(2021, 3, 14, 2, 45, 0, 0), "", "2021-03-14T10:45:00+00:00"},
		{d(2021, 3, 14, 3, 0, 0, 0), "", "2021-03-14T10:00:00+00:00"},
		// fall back 2021-11-07: 01:00-02:00 happens twice → PST.
		{d(2021, 11, 7, 0, 59, 0, 0), "", "2021-11-07T07:59:00+00:00"},
		{d(2021, 11, 7, 1, 30, 0, 0), "", "2021-11-07T09:30:00+00:00"},
		{d(2021, 11, 7, 2, 0, 0, 0), "", "2021-11-07T10:00:00+00:00"},
		// the first daylight time (US rules, in both) and the war time,
		// which began with a missing hour and ended with a repeated one.
		{d(1918, 7, 1, 12, 0, 0, 0), "", "1918-07-01T19:00:00+00:00"},
		{d(1920, 7, 1, 12, 0, 0, 0), "", "1920-07-01T20:00:00+00:00"},
		{d(1942, 2, 9, 2, 30, 0, 0), "", "1942-02-09T10:30:00+00:00"},
		{d(1944, 7, 1, 12, 0, 0, 0), "", "1944-07-01T19:00:00+00:00"},
		{d(1945, 9, 30, 1, 30, 0, 0), "", "1945-09-30T09:30:00+00:00"},
		// California's daylight time 1948-1966: not in the US rules.
		{d(1948, 6, 1, 12, 0, 0, 0), "1948-06-01T20:00:00+00:00", "1948-06-01T19:00:00+00:00"},
		{d(1950, 7, 1, 12, 0, 0, 0), "1950-07-01T20:00:00+00:00", "1950-07-01T19:00:00+00:00"},
		{d(1966, 7, 1, 12, 0, 0, 0), "1966-07-01T20:00:00+00:00", "1966-07-01T19:00:00+00:00"},
		{d(1966, 12, 31, 12, 0, 0, 0), "", "1966-12-31T20:00:00+00:00"},
		{d(1967, 7, 1, 12, 0, 0, 0), "", "1967-07-01T19:00:00+00:00"},
		// the energy crisis: daylight time from 1974-01-06 02:00.
		{d(1974, 1, 6, 3, 0, 0, 0), "", "1974-01-06T10:00:00+00:00"},
		{d(1975, 2, 22, 12, 0, 0, 0), "", "1975-02-22T20:00:00+00:00"},
		{d(1975, 2, 24, 12, 0, 0, 0), "", "1975-02-24T19:00:00+00:00"},
		// local mean time until pytz 2024b's table starts (1901-12-13
		// 20:45:52 UTC), and the seven minutes repeated when it ends
		// (later UTC); PST all along before 2024b.
		{d(1900, 1, 1, 0, 0, 0, 0), "1900-01-01T08:00:00+00:00", "1900-01-01T07:53:00+00:00"},
		{d(1862, 5, 1, 12, 0, 0, 0), "1862-05-01T20:00:00+00:00", "1862-05-01T19:53:00+00:00"},
		{d(1883, 11, 18, 12, 3, 0, 0), "1883-11-18T20:03:00+00:00", "1883-11-18T19:56:00+00:00"},
		{d(1901, 12, 13, 12, 45, 0, 0), "1901-12-13T20:45:00+00:00", "1901-12-13T20:38:00+00:00"},
		{d(1901, 12, 13, 12, 52, 51, 0), "1901-12-13T20:52:51+00:00", "1901-12-13T20:52:51+00:00"},
		{d(1901, 12, 14, 0, 0, 0, 0), "", "1901-12-14T08:00:00+00:00"},
		// pytz has no DST after 2037.
		{d(2037, 7, 1, 12, 0, 0, 0), "", "2037-07-01T19:00:00+00:00"},
		{d(2038, 7, 1, 12, 0, 0, 0), "", "2038-07-01T20:00:00+00:00"},
		{d(2040, 7, 1, 12, 0, 0, 0), "", "2040-07-01T20:00:00+00:00"},
		{d(2, 1, 1, 0, 0, 0, 0), "0002-01-01T08:00:00+00:00", "0002-01-01T07:53:00+00:00"},
		{d(1, 1, 2, 0, 0, 0, 0), "0001-01-02T08:00:00+00:00", "0001-01-02T07:53:00+00:00"},
		{d(1, 1, 1, 23, 59, 0, 0), "0002-01-01T08:00:00+00:00", "0002-01-01T07:53:00+00:00"}, // clamp
		{d(1, 1, 1, 0, 0, 0, 0), "0002-01-01T08:00:00+00:00", "0002-01-01T07:53:00+00:00"},   // clamp
		{d(9998, 12, 30, 12, 0, 0, 0), "", "9998-12-30T20:00:00+00:00"},
		{d(9999, 12, 30, 15, 59, 0, 0), "", "9999-12-30T23:59:00+00:00"},
		{d(9999, 12, 30, 16, 0, 0, 0), "", "9999-12-31T00:00:00+00:00"},
		{d(9999, 12, 31, 0, 0, 0, 0), "", "9998-12-31T08:00:00+00:00"}, // clamp
		{d(9999, 12, 31, 23, 59, 59, 0), "", "9998-12-31T08:00:00+00:00"},
	} {
		old := tc.old
		if old == "" {
			old = tc.want
		}
		if got := Tz2024b.ISO(tc.in); got != tc.want {
			t.Errorf("2024b ISO(%s) = %s, want %s", tc.in.Format(time.RFC3339Nano), got, tc.want)
		}
		if got := Pre2024b.ISO(tc.in); got != old {
			t.Errorf("pre-2024b ISO(%s) = %s, want %s", tc.in.Format(time.RFC3339Nano), got, old)
		}
	}
	if Tz2024b.MinStartISO() != "0002-01-01T07:53:00+00:00" || Tz2024b.MaxEndISO() != "9998-12-31T08:00:00+00:00" ||
		Pre2024b.MinStartISO() != "0002-01-01T08:00:00+00:00" || Pre2024b.MaxEndISO() != "9998-12-31T08:00:00+00:00" {
		t.Errorf("clamps %s %s %s %s", Tz2024b.MinStartISO(), Tz2024b.MaxEndISO(), Pre2024b.MinStartISO(), Pre2024b.MaxEndISO())
	}
}

func TestISOIgnoresLocation(t *testing.T) {
	loc := time.FixedZone("X", 5*3600)
	if got := Pre2024b.ISO(time.Date(2004, 3, 26, 12, 36, 0, 0, loc)); got != "2004-03-26T20:36:00+00:00" {
		t.Errorf("got %s", got)
	}
}

func TestParseRulesAndEvidence(t *testing.T) {
	for in, want := range map[string]Rules{"pre-2024b": Pre2024b, "2024b": Tz2024b} {
		if got, err := ParseRules(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseRules(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRules("2024.2"); err == nil {
		t.Error("ParseRules accepted 2024.2")
	}
	for in, want := range map[string]string{
		"0002-01-01T08:00:00+00:00": "pre-2024b", "0002-01-01T07:53:00+00:00": "2024b",
		"1895-06-01T08:00:00+00:00": "pre-2024b", "1895-06-01T07:53:00+00:00": "2024b",
		"1901-12-14T08:00:00+00:00": "", "1999-06-01T07:00:00+00:00": "", "1895-06-01T19:00:00+00:00": "", "": "", "x": "",
	} {
		r, ok := Evidence(in)
		if got := map[bool]string{true: r.String()}[ok]; got != want {
			t.Errorf("Evidence(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRoundMinute(t *testing.T) {
	for in, want := range map[int]int{-28378: -28380, -28800: -28800, -25200: -25200, 29: 0, 30: 60, -30: 0, -31: -60} {
		if got := roundMinute(in); got != want {
			t.Errorf("roundMinute(%d) = %d, want %d", in, got, want)
		}
	}
}
