package names

import (
	"errors"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	const p = "recordstreams/"
	for _, tc := range []struct {
		key  string
		want Name
	}{
		{p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.gz", Name{Node: "0.0.3", Kind: Record, Stem: "2022-07-13T08_46_11.304284003Z", File: "2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		{p + "record0.0.4/2019-08-30T18_10_00.419072Z.rcd", Name{Node: "0.0.4", Kind: Record, Stem: "2019-08-30T18_10_00.419072Z", File: "2019-08-30T18_10_00.419072Z.rcd"}},
		{p + "record0.0.5/2019-08-30T18_10_00.419072Z.rcd_sig", Name{Node: "0.0.5", Kind: Signature, Stem: "2019-08-30T18_10_00.419072Z", File: "2019-08-30T18_10_00.419072Z.rcd_sig"}},
		{p + "record0.0.6/sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz", Name{Node: "0.0.6", Kind: Sidecar, Stem: "2022-07-13T08_46_11.304284003Z", File: "2022-07-13T08_46_11.304284003Z_01.rcd.gz", SidecarID: 1}},
	} {
		got, err := Parse(p, tc.key)
		if err != nil {
			t.Errorf("%s: %v", tc.key, err)
			continue
		}
		tc.want.Key, tc.want.Time = tc.key, got.Time
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.key, got, tc.want)
		}
		if got.Time.IsZero() || Day(got.Time) != got.Stem[:10] {
			t.Errorf("%s: time %v, day %s", tc.key, got.Time, Day(got.Time))
		}
	}
}

// Every name here would put a file somewhere other than a day directory
// if it reached a path join: each must be refused.
func TestParseRejectsPathTricks(t *testing.T) {
	const p = "recordstreams/"
	for _, key := range []string{
		p + "record0.0.3/../../etc/2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/..",
		p + "../record0.0.3/2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3//2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/./2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd/",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd\x00.txt",
		p + "record0.0.3/..\\..\\2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/x/2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/sidecar/2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z_01.rcd.gz",
		p + "record../2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.-3/2022-07-13T08_46_11.304284003Z.rcd",
		p + "/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd",
		"/etc/passwd",
		"other/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd",
		p + "record0.0.3/2022-13-45T99_46_11.304284003Z.rcd",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.exe",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.gz.tmp",
		p + "record0.0.3/notes.txt",
		p + "record0.0.3/",
		p + "record0.0.3/2022-07-13T08_46_11.304284003Z.rcd\n",
	} {
		n, err := Parse(p, key)
		var ne *Error
		if !errors.As(err, &ne) {
			t.Errorf("%q accepted as %+v", key, n)
		}
	}
}

func TestCheckMarker(t *testing.T) {
	for _, m := range []string{"2022", "2022-07", "2022-07-13", "2022-07-13T08", "2022-07-13T08_46", "2022-07-13T08_46_11.304", "2022-07-13T08_46_11.304284003Z"} {
		if err := CheckMarker(m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	for _, m := range []string{"", "../x", "2022/07", "2022-07-13T08:46", "*", "2022-07-13T08_46_11.304284003Z.rcd", "20"} {
		if err := CheckMarker(m); err == nil {
			t.Errorf("%q accepted", m)
		}
	}
}
