package downloader

import (
	"testing"
	"time"

	"tributary.dev/services/record-downloader/internal/names"
)

// AUTO follows the mirror node's S3StreamFileProvider.PathResult: the
// account layout first; an empty listing after the refresh interval tries
// the node-id layout at once; a node-id listing that finds objects makes
// it the node's for good, an empty one goes back.
func TestAutoPathType(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPaths(PathAuto, 10*time.Second)
	p.now = func() time.Time { return now }
	l := names.Layout{Prefix: "recordstreams/", Network: "mainnet"}
	n := node{id: 2, account: "0.0.5"}
	step := func(found, wantFallback bool, wantDir string) {
		t.Helper()
		if got := p.listed(n, found); got != wantFallback {
			t.Errorf("listed(found=%v) fallback %v, want %v", found, got, wantFallback)
		}
		if got := p.dir(l, n); got != wantDir {
			t.Errorf("dir %s, want %s", got, wantDir)
		}
	}
	acct, byID := "recordstreams/record0.0.5/", "mainnet/0/2/record/"
	if got := p.dir(l, n); got != acct {
		t.Fatalf("first dir %s", got)
	}
	step(false, false, acct) // empty, but the interval has not passed
	now = now.Add(11 * time.Second)
	step(true, false, acct) // found: stays, the interval restarts
	now = now.Add(11 * time.Second)
	step(false, true, byID)  // empty after the interval: node ids, at once
	step(false, false, acct) // nothing there either: back
	now = now.Add(11 * time.Second)
	step(false, true, byID)
	step(true, false, byID) // found by node id: for good
	now = now.Add(time.Hour)
	step(false, false, byID)
	if got := p.candidates(l, n); len(got) != 2 {
		t.Errorf("candidates %v", got)
	}
	for _, typ := range []PathType{PathAccountID, PathNodeID} {
		q := newPaths(typ, time.Second)
		if q.listed(n, false) {
			t.Errorf("%v fell back", typ)
		}
	}
	if got := newPaths(PathNodeID, 0).dir(l, n); got != byID {
		t.Errorf("NODE_ID dir %s", got)
	}
}

func TestParseNodeRefAndPathType(t *testing.T) {
	for s, want := range map[string]NodeRef{"0.0.3": {Account: "0.0.3"}, "0": {ID: 0, ByID: true}, " 21 ": {ID: 21, ByID: true}} {
		if got, err := ParseNodeRef(s); err != nil || got != want {
			t.Errorf("%q: %+v %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "01", "0.0", "x", "0.0.3.4"} {
		if _, err := ParseNodeRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for s, want := range map[string]PathType{"ACCOUNT_ID": PathAccountID, "node_id": PathNodeID, "Auto": PathAuto} {
		if got, err := ParsePathType(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	if _, err := ParsePathType("BY_NAME"); err == nil {
		t.Error("unknown path type accepted")
	}
}
