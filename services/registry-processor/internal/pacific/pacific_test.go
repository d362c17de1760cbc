package pacific

import (
	"testing"
	"time"
)

// The expected strings were printed by pytz (Debian python3-tz 2022.7.1
// over tzdata 2025b) for timezone("America/Los_Angeles").localize(d)
// .astimezone(utc).isoformat() — what pytz 2024.2's PST8PDT, a link to
// that zone since tzdata 2024b, gives — and checked by hand against the
// rules: PST -8, PDT -7, LMT -7:52:58 rounded to -7:53 before 1901-12-13
// (pytz's 32-bit table), PST only after 2037, standard time for the missing and the repeated hour. "clamp" rows
// are the values pytz raises OverflowError on, which the encoder maps to
// MIN_START_DATE_TZ / MAX_END_DATE_TZ.
func TestISO(t *testing.T) {
	d := func(y int, mo time.Month, day, h, mi, s, us int) time.Time {
		return time.Date(y, mo, day, h, mi, s, us*1000, time.UTC)
	}
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{d(2004, 3, 26, 12, 36, 0, 0), "2004-03-26T20:36:00+00:00"},
		{d(2004, 3, 26, 12, 36, 0, 123000), "2004-03-26T20:36:00.123000+00:00"},
		{d(1999, 12, 31, 23, 59, 59, 999999), "2000-01-01T07:59:59.999999+00:00"},
		{d(2010, 7, 1, 23, 30, 0, 0), "2010-07-02T06:30:00+00:00"},
		// spring forward 2021-03-14: 02:00-03:00 does not exist → PST.
		{d(2021, 3, 14, 1, 59, 59, 0), "2021-03-14T09:59:59+00:00"},
		{d(2021, 3, 14, 2, 45, 0, 0), "2021-03-14T10:45:00+00:00"},
		{d(2021, 3, 14, 3, 0, 0, 0), "2021-03-14T10:00:00+00:00"},
		// fall back 2021-11-07: 01:00-02:00 happens twice → PST.
		{d(2021, 11, 7, 0, 59, 0, 0), "2021-11-07T07:59:00+00:00"},
		{d(2021, 11, 7, 1, 30, 0, 0), "2021-11-07T09:30:00+00:00"},
		{d(2021, 11, 7, 2, 0, 0, 0), "2021-11-07T10:00:00+00:00"},
		// war time began with a missing hour and ended with a repeated one.
		{d(1942, 2, 9, 2, 30, 0, 0), "1942-02-09T10:30:00+00:00"},
		{d(1945, 9, 30, 1, 30, 0, 0), "1945-09-30T09:30:00+00:00"},
		// local mean time until pytz's table starts (1901-12-13 20:45:52
		// UTC), and the seven minutes repeated when it ends (later UTC).
		{d(1900, 1, 1, 0, 0, 0, 0), "1900-01-01T07:53:00+00:00"},
		{d(1862, 5, 1, 12, 0, 0, 0), "1862-05-01T19:53:00+00:00"},
		{d(1883, 11, 18, 12, 3, 0, 0), "1883-11-18T19:56:00+00:00"},
		{d(1901, 12, 13, 12, 45, 0, 0), "1901-12-13T20:38:00+00:00"},
		{d(1901, 12, 13, 12, 52, 51, 0), "1901-12-13T20:52:51+00:00"},
		{d(1901, 12, 14, 0, 0, 0, 0), "1901-12-14T08:00:00+00:00"},
		// pytz has no DST after 2037.
		{d(2037, 7, 1, 12, 0, 0, 0), "2037-07-01T19:00:00+00:00"},
		{d(2038, 7, 1, 12, 0, 0, 0), "2038-07-01T20:00:00+00:00"},
		{d(2040, 7, 1, 12, 0, 0, 0), "2040-07-01T20:00:00+00:00"},
		{d(2, 1, 1, 0, 0, 0, 0), "0002-01-01T07:53:00+00:00"},
		{d(1, 1, 2, 0, 0, 0, 0), "0001-01-02T07:53:00+00:00"},
		{d(1, 1, 1, 23, 59, 0, 0), "0002-01-01T07:53:00+00:00"}, // clamp
		{d(1, 1, 1, 0, 0, 0, 0), "0002-01-01T07:53:00+00:00"},   // clamp
		{d(9998, 12, 30, 12, 0, 0, 0), "9998-12-30T20:00:00+00:00"},
		{d(9999, 12, 30, 15, 59, 0, 0), "9999-12-30T23:59:00+00:00"},
		{d(9999, 12, 30, 16, 0, 0, 0), "9999-12-31T00:00:00+00:00"},
		{d(9999, 12, 31, 0, 0, 0, 0), "9998-12-31T08:00:00+00:00"}, // clamp
		{d(9999, 12, 31, 23, 59, 59, 0), "9998-12-31T08:00:00+00:00"},
	} {
		if got := ISO(tc.in); got != tc.want {
			t.Errorf("ISO(%s) = %s, want %s", tc.in.Format(time.RFC3339Nano), got, tc.want)
		}
	}
	if MinStartISO != "0002-01-01T07:53:00+00:00" || MaxEndISO != "9998-12-31T08:00:00+00:00" {
		t.Errorf("clamps %s %s", MinStartISO, MaxEndISO)
	}
}

func TestISOIgnoresLocation(t *testing.T) {
	loc := time.FixedZone("X", 5*3600)
	if got := ISO(time.Date(2004, 3, 26, 12, 36, 0, 0, loc)); got != "2004-03-26T20:36:00+00:00" {
		t.Errorf("got %s", got)
	}
}

func TestRoundMinute(t *testing.T) {
	for in, want := range map[int]int{-28378: -28380, -28800: -28800, -25200: -25200, 29: 0, 30: 60, -30: 0, -31: -60} {
		if got := roundMinute(in); got != want {
			t.Errorf("roundMinute(%d) = %d, want %d", in, got, want)
		}
	}
}
