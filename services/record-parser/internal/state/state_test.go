package state

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/record-parser/migrations"
)

const testTimeout = 10 * time.Second

func newStore(t *testing.T, network string) *Store {
	t.Helper()
	env := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "record-parser"})
	return New(env.Pool, network, testTimeout)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fixtureRoot(t testing.TB) string { return testkit.HederaFixtures(t) }

type expectedFile = testkit.HederaFile

func expected(t testing.TB) map[string]expectedFile { return testkit.HederaExpected(t) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("expected.json hash %q: %v", s, err)
	}
	return b
}

// fixtureFile parses the fixture at rel (below recordstreams/) and builds
// the File the parser would record for it.
func fixtureFile(t *testing.T, rel string) *File {
	t.Helper()
	path := filepath.Join(fixtureRoot(t), "hedera-mirror-node", "recordstreams", filepath.FromSlash(rel))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := recordstream.Parse(filepath.Base(rel), data)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	f := &File{
		Name: rf.Name, Node: "0.0.3", Version: rf.Version,
		ConsensusStart: rf.ConsensusStart, ConsensusEnd: rf.ConsensusEnd, Count: len(rf.Items),
		FileHash: rf.FileHash, PrevHash: rf.PrevHash, ChainHash: rf.ChainHash(),
		Outcome: Parsed, Index: "hedera-transactions-x", NDJSON: "out/" + rf.Name + ".ndjson",
	}
	if rf.Version == 6 {
		b := rf.BlockNumber
		f.BlockNumber = &b
	}
	return f
}

func mustRecord(t *testing.T, s *Store, f *File, breaks []Break) Link {
	t.Helper()
	l, err := s.Record(testCtx(t), f, breaks)
	if err != nil {
		t.Fatalf("record %s: %v", f.Name, err)
	}
	return l
}

func TestRoundTripKeepsNanoseconds(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	rel := "v5v6/record0.0.3/2022-06-21T09_15_38.325469003Z.rcd.gz"
	want := expected(t)[rel]
	f := fixtureFile(t, rel)
	if f.ConsensusStart != want.StartNs || f.ConsensusEnd != want.EndNs {
		t.Fatalf("fixture parsed to %d..%d, expected.json says %d..%d", f.ConsensusStart, f.ConsensusEnd, want.StartNs, want.EndNs)
	}
	before := time.Now().Add(-time.Minute)
	if l := mustRecord(t, s, f, nil); l.Prev != nil || l.Next != nil {
		t.Fatalf("first file has neighbours %+v", l)
	}
	got, err := s.Lookup(ctx, f.Name)
	if err != nil || got == nil {
		t.Fatalf("lookup: %v, %v", got, err)
	}
	if got.ConsensusStart != want.StartNs || got.ConsensusEnd != want.EndNs {
		t.Errorf("read back %d..%d, want %d..%d", got.ConsensusStart, got.ConsensusEnd, want.StartNs, want.EndNs)
	}
	if !bytes.Equal(got.FileHash, unhex(t, want.FileHash)) || !bytes.Equal(got.PrevHash, unhex(t, want.Prev)) ||
		!bytes.Equal(got.ChainHash, unhex(t, want.End)) {
		t.Errorf("hashes read back differ from expected.json: %x %x %x", got.FileHash, got.PrevHash, got.ChainHash)
	}
	if got.BlockNumber == nil || want.Block == nil || *got.BlockNumber != *want.Block {
		t.Errorf("block number %v, want %v", got.BlockNumber, want.Block)
	}
	if got.Version != want.Version || got.Count != want.Count || got.Node != "0.0.3" || got.Outcome != Parsed ||
		got.Index != f.Index || got.NDJSON != f.NDJSON || got.Announced {
		t.Errorf("read back %+v, recorded %+v", got, f)
	}
	if got.ParsedAt.Before(before) {
		t.Errorf("parsed_at %v", got.ParsedAt)
	}
	if err := s.MarkAnnounced(ctx, f.Name); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup(ctx, f.Name); got == nil || !got.Announced {
		t.Errorf("not announced after MarkAnnounced: %+v", got)
	}
	if err := s.MarkAnnounced(ctx, "2000-01-01T00_00_00Z.rcd"); err == nil || !strings.Contains(err.Error(), "not recorded") {
		t.Errorf("MarkAnnounced of an unknown file: %v", err)
	}
	if got, err := s.Lookup(ctx, "2000-01-01T00_00_00Z.rcd"); got != nil || err != nil {
		t.Errorf("lookup of an unknown file: %+v, %v", got, err)
	}
	// Another network's stream is another table of contents.
	other := New(s.pool, "mainnet", testTimeout)
	if got, err := other.Lookup(ctx, f.Name); got != nil || err != nil {
		t.Errorf("mainnet sees testnet's file: %+v, %v", got, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestRecordTwice(t *testing.T) {
	s := newStore(t, "testnet")
	f := fixtureFile(t, "v5/record0.0.3/2021-01-11T22_09_24.063739000Z.rcd")
	mustRecord(t, s, f, nil)

	again := *f
	again.Node = "0.0.4" // another node's copy of the same file
	l, err := s.Record(testCtx(t), &again, nil)
	if !errors.Is(err, ErrRecorded) {
		t.Fatalf("same hash again: %v, want ErrRecorded", err)
	}
	if l.Existing == nil || l.Existing.Node != "0.0.3" || !bytes.Equal(l.Existing.FileHash, f.FileHash) {
		t.Errorf("existing row %+v", l.Existing)
	}

	other := *f
	other.FileHash = bytes.Repeat([]byte{0xab}, 48)
	_, err = s.Record(testCtx(t), &other, nil)
	if err == nil || errors.Is(err, ErrRecorded) {
		t.Fatalf("another hash: %v, want an error", err)
	}
	for _, h := range [][]byte{f.FileHash, other.FileHash} {
		if !strings.Contains(err.Error(), hex.EncodeToString(h)) {
			t.Errorf("error %q does not name hash %x", err, h)
		}
	}
	if !strings.Contains(err.Error(), f.Name) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestChainAcrossVersions(t *testing.T) {
	for _, pair := range [][2]string{
		{"v2v5/record0.0.3/2021-01-21T00_15_51.568507001Z.rcd", "v2v5/record0.0.3/2021-01-21T00_19_43.558496000Z.rcd"},
		{"v5v6/record0.0.3/2022-06-21T09_14_34.364804003Z.rcd", "v5v6/record0.0.3/2022-06-21T09_15_38.325469003Z.rcd.gz"},
	} {
		t.Run(strings.Split(pair[0], "/")[0], func(t *testing.T) {
			s := newStore(t, "testnet")
			a, b := fixtureFile(t, pair[0]), fixtureFile(t, pair[1])
			mustRecord(t, s, a, nil)
			l := mustRecord(t, s, b, nil)
			if l.Prev == nil || l.Prev.Name != a.Name || l.Next != nil {
				t.Fatalf("link of %s: %+v", b.Name, l)
			}
			if !l.PrevOK(b) || !l.NextOK(b) {
				t.Errorf("%s does not follow %s in the store", b.Name, a.Name)
			}
			if br, _ := s.Breaks(testCtx(t)); len(br) != 0 {
				t.Errorf("breaks %+v", br)
			}
		})
	}
}

func TestChainBreakRecorded(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	a := fixtureFile(t, "eth-0.26.0/record0.0.3/2022-04-28T15_28_34.014499000Z.rcd")
	b := fixtureFile(t, "eth-0.26.0/record0.0.3/2022-04-28T15_28_40.210859000Z.rcd")
	mustRecord(t, s, a, nil)
	l, err := s.Neighbours(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if l.Prev == nil || l.Prev.Name != a.Name || l.PrevOK(b) {
		t.Fatalf("the eth-0.26.0 pair is not consecutive, yet the link says OK: %+v", l)
	}
	caller := []Break{{File: b.Name, PrevFile: a.Name, Expected: l.Prev.ChainHash, Found: b.PrevHash, Policy: PolicyContinue}}
	if l = mustRecord(t, s, b, caller); l.PrevOK(b) {
		t.Fatalf("under the lock the pair chains: %+v", l)
	}
	br, err := s.Breaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(br) != 1 {
		t.Fatalf("breaks %+v", br)
	}
	got := br[0]
	if got.File != b.Name || got.PrevFile != a.Name || got.Policy != PolicyContinue ||
		!bytes.Equal(got.Expected, a.ChainHash) || !bytes.Equal(got.Found, b.PrevHash) || got.AcceptedAt != nil {
		t.Errorf("break %+v", got)
	}
}

func TestNeighboursIgnoreQuarantined(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	a := fixtureFile(t, "v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd")
	b := fixtureFile(t, "v2/record0.0.3/2019-08-30T18_10_05.249678Z.rcd")
	q := &File{Name: "2019-08-30T18_10_03.000000Z.rcd", Outcome: Quarantined, Reason: "undecodable",
		ConsensusStart: a.ConsensusEnd + 1, ConsensusEnd: a.ConsensusEnd + 1, FileHash: []byte{1}, ChainHash: []byte{2}}
	mustRecord(t, s, a, nil)
	if l := mustRecord(t, s, q, nil); l.Prev == nil || l.Prev.Name != a.Name {
		t.Fatalf("quarantined file's link %+v", l)
	}
	got, _ := s.Lookup(ctx, q.Name)
	if got == nil || got.Outcome != Quarantined || got.ChainHash != nil || got.Reason != "undecodable" {
		t.Errorf("quarantined row %+v", got)
	}
	l := mustRecord(t, s, b, nil)
	if l.Prev == nil || l.Prev.Name != a.Name || !l.PrevOK(b) {
		t.Errorf("link of %s: prev %+v, want %s", b.Name, l.Prev, a.Name)
	}
	last, err := s.Last(ctx)
	if err != nil || last == nil || last.Name != b.Name {
		t.Errorf("last %+v, %v", last, err)
	}
	if br, _ := s.Breaks(ctx); len(br) != 0 {
		t.Errorf("breaks %+v", br)
	}
}

func TestOutOfOrder(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	var f [3]*File
	for i, name := range []string{"2020-02-09T18_30_00.000084Z.rcd", "2020-02-09T18_30_05.007359Z.rcd", "2020-02-09T18_30_10.001022Z.rcd"} {
		f[i] = fixtureFile(t, "performance/v2/"+name)
	}
	mustRecord(t, s, f[0], nil)
	l := mustRecord(t, s, f[2], nil) // file 3 before file 2: a gap, seen as a break for now
	if l.Prev == nil || l.Prev.Name != f[0].Name || l.Next != nil || l.PrevOK(f[2]) {
		t.Fatalf("link of file 3: %+v", l)
	}
	l, err := s.Neighbours(ctx, f[1])
	if err != nil {
		t.Fatal(err)
	}
	if l.Prev == nil || l.Prev.Name != f[0].Name || l.Next == nil || l.Next.Name != f[2].Name {
		t.Fatalf("neighbours of file 2: %+v", l)
	}
	if l = mustRecord(t, s, f[1], nil); !l.PrevOK(f[1]) || !l.NextOK(f[1]) {
		t.Fatalf("file 2 does not fit between 1 and 3: %+v", l)
	}
	br, err := s.Breaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The gap's break is resolved by the file that filled it.
	if len(br) != 1 || br[0].File != f[2].Name || br[0].PrevFile != f[0].Name || br[0].ResolvedBy != f[1].Name {
		t.Fatalf("breaks %+v", br)
	}
	// Resume accepts only open breaks: the resolved one stays as it was.
	acc, err := s.Resume(ctx, "ops")
	if err != nil || len(acc) != 0 {
		t.Fatalf("resume accepted %+v, %v", acc, err)
	}
	if last, _ := s.Last(ctx); last == nil || last.Name != f[2].Name {
		t.Errorf("last %+v", last)
	}
}

// Two replicas record adjacent files at once, each having seen no
// neighbour beforehand: the lock serialises them, so whichever commits
// second sees the first and a mismatch is recorded exactly once.
func TestConcurrentAdjacent(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			pool := newStore(t, "testnet").pool
			ctx := testCtx(t)
			for round := range 5 {
				// A network per round: the rounds are separate streams.
				s := New(pool, fmt.Sprintf("net%d", round), testTimeout)
				base := int64(round) * 10_000
				a := &File{Name: fmt.Sprintf("a%d", round), Version: 5, ConsensusStart: base + 1, ConsensusEnd: base + 2,
					Outcome: Parsed, FileHash: []byte{byte(round), 1}, PrevHash: []byte{0}, ChainHash: []byte{byte(round), 0xaa}}
				b := &File{Name: fmt.Sprintf("b%d", round), Version: 5, ConsensusStart: base + 3, ConsensusEnd: base + 4,
					Outcome: Parsed, FileHash: []byte{byte(round), 2}, PrevHash: []byte{byte(round), 0xaa}, ChainHash: []byte{byte(round), 0xbb}}
				if broken {
					b.PrevHash = []byte{byte(round), 0xcc}
				}
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for i, f := range []*File{a, b} {
					wg.Go(func() { _, errs[i] = s.Record(ctx, f, nil) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				br, err := s.Breaks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !broken && len(br) != 0 {
					t.Fatalf("round %d: breaks where the chain holds: %+v", round, br)
				}
				if broken && (len(br) != 1 || br[0].File != b.Name || br[0].PrevFile != a.Name || br[0].Policy != PolicyStop ||
					!bytes.Equal(br[0].Expected, a.ChainHash) || !bytes.Equal(br[0].Found, b.PrevHash)) {
					t.Fatalf("round %d: want the one break b after a, got %+v", round, br)
				}
			}
		})
	}
}

func TestHaltResume(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	if h, err := s.Halted(ctx); h != nil || err != nil {
		t.Fatalf("halted at start: %+v, %v", h, err)
	}
	a := fixtureFile(t, "eth-0.26.0/record0.0.3/2022-04-28T15_28_34.014499000Z.rcd")
	b := fixtureFile(t, "eth-0.26.0/record0.0.3/2022-04-28T15_28_40.210859000Z.rcd")
	mustRecord(t, s, a, nil)
	// Policy stop: the break is recorded, the file is not parsed.
	l, err := s.Neighbours(ctx, b)
	if err != nil || l.PrevOK(b) {
		t.Fatalf("link of %s: %+v, %v", b.Name, l, err)
	}
	if err := s.AddBreak(ctx, Break{File: b.Name, PrevFile: l.Prev.Name, Expected: l.Prev.ChainHash, Found: b.PrevHash}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup(ctx, b.Name); got != nil {
		t.Fatalf("AddBreak recorded the file: %+v", got)
	}
	if ok, err := s.BreakAccepted(ctx, b.Name); ok || err != nil {
		t.Fatalf("accepted before resume: %v, %v", ok, err)
	}
	if err := s.Halt(ctx, &File{Name: b.Name}, "chain break"); err != nil {
		t.Fatal(err)
	}
	if err := s.Halt(ctx, &File{Name: "later.rcd"}, "another"); err != nil { // idempotent: the first halt stays
		t.Fatal(err)
	}
	h, err := s.Halted(ctx)
	if err != nil || h == nil || h.File != b.Name || h.Reason != "chain break" || time.Since(h.Since) > time.Minute {
		t.Fatalf("halt %+v, %v", h, err)
	}
	if h, _ := New(s.pool, "mainnet", testTimeout).Halted(ctx); h != nil {
		t.Errorf("mainnet halted by testnet's halt: %+v", h)
	}
	acc, err := s.Resume(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(acc) != 1 || acc[0].File != b.Name || acc[0].PrevFile != a.Name || acc[0].AcceptedBy != "alice" || acc[0].AcceptedAt == nil {
		t.Fatalf("accepted %+v", acc)
	}
	if h, _ := s.Halted(ctx); h != nil {
		t.Errorf("still halted after resume: %+v", h)
	}
	if ok, err := s.BreakAccepted(ctx, b.Name); !ok || err != nil {
		t.Errorf("not accepted after resume: %v, %v", ok, err)
	}
	if acc, err := s.Resume(ctx, "bob"); len(acc) != 0 || err != nil {
		t.Errorf("second resume accepted %+v, %v", acc, err)
	}
	// The file comes again and is parsed: its break stays the accepted one.
	mustRecord(t, s, b, nil)
	br, _ := s.Breaks(ctx)
	if len(br) != 1 || br[0].AcceptedBy != "alice" || br[0].Policy != PolicyStop {
		t.Errorf("breaks after resumes %+v", br)
	}
}

func TestStatementDeadline(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	// Another session holds the stream's lock: Record must give up after
	// the statement deadline instead of waiting for ever.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.lock); err != nil {
		t.Fatal(err)
	}
	short := New(s.pool, "testnet", 200*time.Millisecond)
	start := time.Now()
	_, err = short.Record(ctx, &File{Name: "x.rcd", Outcome: Parsed}, nil)
	if err == nil || !strings.Contains(err.Error(), "x.rcd") {
		t.Fatalf("record under a held lock: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// A file lands between two recorded as a break but does not fit its own
// predecessor: the gap's break is superseded, the real one recorded.
func TestGapFilledByBrokenFile(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	f1 := &File{Name: "f1", ConsensusStart: 10, ConsensusEnd: 11, Outcome: Parsed, FileHash: []byte{1}, PrevHash: []byte{0}, ChainHash: []byte{0x11}}
	f2 := &File{Name: "f2", ConsensusStart: 20, ConsensusEnd: 21, Outcome: Parsed, FileHash: []byte{2}, PrevHash: []byte{0x99}, ChainHash: []byte{0x22}}
	f3 := &File{Name: "f3", ConsensusStart: 30, ConsensusEnd: 31, Outcome: Parsed, FileHash: []byte{3}, PrevHash: []byte{0x22}, ChainHash: []byte{0x33}}
	mustRecord(t, s, f1, nil)
	mustRecord(t, s, f3, []Break{{File: "f3", PrevFile: "f1", Policy: PolicyContinue}})
	// The break f2 makes is found under the lock, with no break of the
	// caller's for that pair: it takes the store's policy.
	s.Policy = PolicyContinue
	l := mustRecord(t, s, f2, nil)
	if l.PrevOK(f2) || !l.NextOK(f2) {
		t.Fatalf("link of f2 %+v", l)
	}
	br, err := s.Breaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(br) != 2 {
		t.Fatalf("breaks %+v", br)
	}
	if br[0].File != "f3" || br[0].PrevFile != "f1" || br[0].ResolvedBy != "f2" || br[0].Policy != PolicyContinue {
		t.Errorf("gap break %+v", br[0])
	}
	if br[1].File != "f2" || br[1].PrevFile != "f1" || br[1].ResolvedBy != "" || br[1].Policy != PolicyContinue ||
		!bytes.Equal(br[1].Expected, f1.ChainHash) || !bytes.Equal(br[1].Found, f2.PrevHash) {
		t.Errorf("real break %+v", br[1])
	}
	acc, err := s.Resume(ctx, "ops")
	if err != nil || len(acc) != 1 || acc[0].File != "f2" {
		t.Errorf("resume accepted %+v, %v", acc, err)
	}
	if ok, _ := s.BreakAccepted(ctx, "f3"); ok {
		t.Error("the superseded break at f3 counts as accepted")
	}
}

// chained returns n synthetic files of one stream, each starting where
// the one before ends.
func chained(n int) []*File {
	var out []*File
	prev := []byte{0}
	for i := range n {
		f := &File{Name: fmt.Sprintf("f%d", i+1), Version: 6, ConsensusStart: int64(10 * (i + 1)), ConsensusEnd: int64(10*(i+1) + 1),
			Outcome: Parsed, FileHash: []byte{byte(i + 1)}, PrevHash: prev, ChainHash: []byte{0x10 + byte(i+1)}}
		prev = f.ChainHash
		out = append(out, f)
	}
	return out
}

// CHAIN_WAIT's clock: from the first sighting behind the same file,
// shared by every replica; restarted when the file before it moved on or
// after a long time unseen; cleared when the file is recorded and when a
// halt is lifted.
func TestWaited(t *testing.T) {
	s := newStore(t, "testnet")
	ctx := testCtx(t)
	if d, err := s.Waited(ctx, "f2", "f1", time.Hour); err != nil || d > time.Second {
		t.Fatalf("first sighting: waited %v, %v", d, err)
	}
	time.Sleep(300 * time.Millisecond)
	if d, err := s.Waited(ctx, "f2", "f1", time.Hour); err != nil || d < 300*time.Millisecond {
		t.Fatalf("second sighting: waited %v, %v; want at least the 300ms since the first", d, err)
	}
	// Another network's file of the same name has its own clock.
	if d, _ := New(s.pool, "mainnet", testTimeout).Waited(ctx, "f2", "f1", time.Hour); d > 250*time.Millisecond {
		t.Errorf("mainnet's f2 waited %v", d)
	}
	// Not looked at for longer than restartAfter: the wait starts again.
	time.Sleep(300 * time.Millisecond)
	if d, _ := s.Waited(ctx, "f2", "f1", 100*time.Millisecond); d > 250*time.Millisecond {
		t.Errorf("after a gap longer than restartAfter: waited %v, want a fresh start", d)
	}
	time.Sleep(200 * time.Millisecond)
	if d, _ := s.Waited(ctx, "f2", "f1", time.Hour); d < 200*time.Millisecond {
		t.Errorf("after the restart the clock did not run: %v", d)
	}

	// The file before it moved on (files between were recorded): the
	// stream is catching up, the wait starts again behind the new one.
	time.Sleep(300 * time.Millisecond)
	if d, _ := s.Waited(ctx, "f2", "f1b", time.Hour); d > 250*time.Millisecond {
		t.Errorf("behind a newer file: waited %v, want a fresh start", d)
	}
	time.Sleep(200 * time.Millisecond)
	if d, _ := s.Waited(ctx, "f2", "f1b", time.Hour); d < 200*time.Millisecond {
		t.Errorf("behind the same file again: the clock did not run: %v", d)
	}

	// Recording the file clears its wait.
	f := chained(2)
	mustRecord(t, s, f[1], nil)
	if d, _ := s.Waited(ctx, "f2", "f1", time.Hour); d > 250*time.Millisecond {
		t.Errorf("after f2 was recorded its wait is %v, want a fresh one", d)
	}
	// A resume clears every wait: time halted is not time waited.
	if _, err := s.Waited(ctx, "f3", "f1", time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := s.Resume(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Waited(ctx, "f3", "f1", time.Hour); d > 250*time.Millisecond {
		t.Errorf("after a resume f3 waited %v", d)
	}
}

// The file that was late arrives after the stream halted at its
// successor: the break is resolved, the halt lifted and the waits
// cleared, with no resume. A file that does not explain the break leaves
// the halt alone.
func TestLateFileLiftsTheHalt(t *testing.T) {
	f := chained(4)
	// haltedAtF3 is a stream where f3 came before f2: under stop it is
	// not recorded, the stream halts at it; f4 waits meanwhile.
	haltedAtF3 := func(t *testing.T) *Store {
		t.Helper()
		s := newStore(t, "testnet")
		ctx := testCtx(t)
		mustRecord(t, s, f[0], nil)
		if err := s.AddBreak(ctx, Break{File: "f3", PrevFile: "f1", Expected: f[0].ChainHash, Found: f[2].PrevHash}); err != nil {
			t.Fatal(err)
		}
		if err := s.Halt(ctx, &File{Name: "f3"}, "chain broken"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Waited(ctx, "f4", "f1", time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		return s
	}
	ctx := testCtx(t)

	// A file of another fork lands between them: it explains nothing.
	s := haltedAtF3(t)
	stray := &File{Name: "f2x", ConsensusStart: 19, ConsensusEnd: 19, Outcome: Parsed, FileHash: []byte{0x77}, PrevHash: f[0].ChainHash, ChainHash: []byte{0x78}}
	if l := mustRecord(t, s, stray, nil); l.Lifted != nil || len(l.Resolved) != 0 {
		t.Fatalf("a file that does not end where f3 starts resolved %+v, lifted %+v", l.Resolved, l.Lifted)
	}
	if h, _ := s.Halted(ctx); h == nil {
		t.Fatal("the halt went with a file that does not explain it")
	}

	s2 := haltedAtF3(t) // a fresh stream for the real thing
	l := mustRecord(t, s2, f[1], nil)
	if len(l.Resolved) != 1 || l.Resolved[0].File != "f3" || l.Resolved[0].PrevFile != "f1" || l.Resolved[0].ResolvedBy != "f2" {
		t.Fatalf("resolved %+v, want f3 after f1, by f2", l.Resolved)
	}
	if l.Lifted == nil || l.Lifted.File != "f3" {
		t.Fatalf("lifted %+v, want the halt at f3", l.Lifted)
	}
	if h, _ := s2.Halted(ctx); h != nil {
		t.Fatalf("still halted: %+v", h)
	}
	if d, _ := s2.Waited(ctx, "f4", "f1", time.Hour); d > 250*time.Millisecond {
		t.Errorf("f4's wait survived the lifted halt: %v", d)
	}
	// f3 comes again: it follows f2, no new break; nothing is open.
	if l := mustRecord(t, s2, f[2], nil); !l.PrevOK(f[2]) {
		t.Fatalf("f3 does not follow f2: %+v", l)
	}
	br, _ := s2.Breaks(ctx)
	if len(br) != 1 || br[0].ResolvedBy != "f2" {
		t.Errorf("breaks %+v", br)
	}
	if acc, _ := s2.Resume(ctx, "ops"); len(acc) != 0 {
		t.Errorf("resume found open breaks: %+v", acc)
	}
}

// Revive: a quarantined file parsed after all takes its place in the
// chain, closes the gap it left (halted under stop, recorded as a break
// under continue) and refuses when it does not fit.
func TestRevive(t *testing.T) {
	quarantine := func(t *testing.T, s *Store, f *File) {
		t.Helper()
		q := &File{Name: f.Name, ConsensusStart: f.ConsensusStart, ConsensusEnd: f.ConsensusStart, Outcome: Quarantined, Reason: "truncated: short read"}
		mustRecord(t, s, q, nil)
	}
	t.Run("stop", func(t *testing.T) {
		s := newStore(t, "testnet")
		ctx := testCtx(t)
		f := chained(3)
		mustRecord(t, s, f[0], nil)
		quarantine(t, s, f[1])
		if err := s.AddBreak(ctx, Break{File: "f3", PrevFile: "f1", Expected: f[0].ChainHash, Found: f[2].PrevHash}); err != nil {
			t.Fatal(err)
		}
		if err := s.Halt(ctx, &File{Name: "f3"}, "chain broken"); err != nil {
			t.Fatal(err)
		}
		l, err := s.Revive(ctx, f[1])
		if err != nil {
			t.Fatal(err)
		}
		if l.Lifted == nil || l.Lifted.File != "f3" || len(l.Resolved) != 1 || l.Resolved[0].File != "f3" {
			t.Fatalf("revive: resolved %+v, lifted %+v", l.Resolved, l.Lifted)
		}
		got, _ := s.Lookup(ctx, "f2")
		if got == nil || got.Outcome != Parsed || !bytes.Equal(got.ChainHash, f[1].ChainHash) || !bytes.Equal(got.FileHash, f[1].FileHash) ||
			got.Reason != "re-parsed after quarantine: truncated: short read" || got.Announced {
			t.Fatalf("revived row %+v", got)
		}
		if l := mustRecord(t, s, f[2], nil); !l.PrevOK(f[2]) || l.Prev.Name != "f2" {
			t.Fatalf("f3 after the revive: %+v", l)
		}
		if h, _ := s.Halted(ctx); h != nil {
			t.Errorf("halted: %+v", h)
		}
		// Revived once: not quarantined any more.
		if _, err := s.Revive(ctx, f[1]); err == nil || !strings.Contains(err.Error(), "not quarantined") {
			t.Errorf("second revive: %v", err)
		}
	})
	t.Run("continue", func(t *testing.T) {
		s := newStore(t, "testnet")
		ctx := testCtx(t)
		f := chained(3)
		s.Policy = PolicyContinue
		mustRecord(t, s, f[0], nil)
		quarantine(t, s, f[1])
		mustRecord(t, s, f[2], []Break{{File: "f3", PrevFile: "f1", Policy: PolicyContinue}})
		l, err := s.Revive(ctx, f[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Resolved) != 1 || l.Resolved[0].File != "f3" || l.Resolved[0].PrevFile != "f1" || l.Lifted != nil {
			t.Fatalf("resolved %+v, lifted %+v", l.Resolved, l.Lifted)
		}
		br, _ := s.Breaks(ctx)
		if len(br) != 1 || br[0].ResolvedBy != "f2" {
			t.Errorf("breaks %+v", br)
		}
	})
	// Two quarantined files in a row, revived in either order: each is
	// judged against the sides that are parsed, and once both are back the
	// gap's break is resolved and nothing is open.
	for _, order := range [][]int{{1, 2}, {2, 1}} {
		t.Run(fmt.Sprintf("adjacent %v", order), func(t *testing.T) {
			s := newStore(t, "testnet")
			ctx := testCtx(t)
			f := chained(4)
			s.Policy = PolicyContinue
			mustRecord(t, s, f[0], nil)
			quarantine(t, s, f[1])
			quarantine(t, s, f[2])
			mustRecord(t, s, f[3], []Break{{File: "f4", PrevFile: "f1", Policy: PolicyContinue}})
			for _, i := range order {
				if _, err := s.Revive(ctx, f[i]); err != nil {
					t.Fatalf("revive %s: %v", f[i].Name, err)
				}
			}
			br, _ := s.Breaks(ctx)
			if len(br) != 1 || br[0].File != "f4" || br[0].ResolvedBy == "" {
				t.Errorf("breaks %+v, want f4 after f1 resolved", br)
			}
			if acc, _ := s.Resume(ctx, "ops"); len(acc) != 0 {
				t.Errorf("open breaks left: %+v", acc)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		s := newStore(t, "testnet")
		ctx := testCtx(t)
		f := chained(3)
		mustRecord(t, s, f[0], nil)
		if _, err := s.Revive(ctx, f[1]); err == nil || !strings.Contains(err.Error(), "not recorded") {
			t.Errorf("revive of a file never recorded: %v", err)
		}
		if _, err := s.Revive(ctx, f[0]); err == nil || !strings.Contains(err.Error(), "not quarantined") {
			t.Errorf("revive of a parsed file: %v", err)
		}
		quarantine(t, s, f[1])
		mustRecord(t, s, f[2], nil)
		wrong := *f[1]
		wrong.ChainHash = []byte{0xee} // not where f3 starts
		_, err := s.Revive(ctx, &wrong)
		var nc *NotChained
		if !errors.As(err, &nc) || len(nc.Breaks) != 1 || nc.Breaks[0].File != "f3" || nc.Breaks[0].PrevFile != "f2" {
			t.Fatalf("revive of a copy that does not fit: %v", err)
		}
		if !strings.Contains(err.Error(), "f3 does not follow f2") {
			t.Errorf("error %q does not say which pair", err)
		}
		if got, _ := s.Lookup(ctx, "f2"); got == nil || got.Outcome != Quarantined {
			t.Errorf("a refused revive changed the row: %+v", got)
		}
	})
}
