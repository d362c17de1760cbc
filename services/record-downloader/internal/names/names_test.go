package names

import (
	"errors"
	"strings"
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

// The node-id layout (the mirror node's PathType NODE_ID,
// <network>/<shard>/<node id>/record/): accepted names carry the node id,
// path tricks and other shards or networks are refused, and the account
// layout still parses beside it.
func TestLayoutNodeID(t *testing.T) {
	l := Layout{Prefix: "recordstreams/", Network: "testnet", Shard: 0}
	for _, tc := range []struct {
		key  string
		id   int64
		kind Kind
	}{
		{"testnet/0/0/record/2024-01-01T00_00_00.000000000Z.rcd.gz", 0, Record},
		{"testnet/0/21/record/2024-01-01T00_00_00.000000000Z.rcd_sig", 21, Signature},
		{"testnet/0/3/record/sidecar/2024-01-01T00_00_00.000000000Z_02.rcd.gz", 3, Sidecar},
	} {
		n, err := l.Parse(tc.key)
		if err != nil {
			t.Errorf("%s: %v", tc.key, err)
			continue
		}
		if !n.ByNodeID || n.NodeID != tc.id || n.Kind != tc.kind || n.Node != "" || n.Stem != "2024-01-01T00_00_00.000000000Z" {
			t.Errorf("%s: %+v", tc.key, n)
		}
		if l.Dir(n) != l.NodeIDDir(tc.id) || l.NodeIDDir(tc.id)+strings.TrimPrefix(tc.key, l.NodeIDDir(tc.id)) != tc.key {
			t.Errorf("%s: directory %s", tc.key, l.Dir(n))
		}
	}
	if n, err := l.Parse("recordstreams/record0.0.3/2024-01-01T00_00_00.000000000Z.rcd_sig"); err != nil || n.ByNodeID || n.Node != "0.0.3" {
		t.Errorf("account layout beside it: %+v %v", n, err)
	}
	for _, key := range []string{
		"testnet/0/03/record/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/-1/record/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/record/../2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/../3/record/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/record//2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/balance/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/record/sidecar/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/record/2024-01-01T00_00_00.000000000Z_01.rcd.gz",
		"testnet/0/3/record/2024-01-01T00_00_00.000000000Z.rcd\\x",
		"testnet/1/3/record/2024-01-01T00_00_00.000000000Z.rcd",
		"mainnet/0/3/record/2024-01-01T00_00_00.000000000Z.rcd",
		"testnet/0/3/record/2024-01-01T00_00_00.000000000Z.rcd/x",
	} {
		if n, err := l.Parse(key); err == nil {
			t.Errorf("%q accepted as %+v", key, n)
		}
	}
	for _, n := range []string{"mainnet", "testnet", "previewnet", "local-1"} {
		if err := CheckNetwork(n); err != nil {
			t.Error(err)
		}
	}
	for _, n := range []string{"", "Mainnet", "../x", "a/b", "-x"} {
		if err := CheckNetwork(n); err == nil {
			t.Errorf("network %q accepted", n)
		}
	}
}
