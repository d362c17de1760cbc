package state

import (
	"context"
	"crypto/sha512"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/record-parser/migrations"
)

func hashOf(s string) []byte {
	h := sha512.Sum384([]byte(s))
	return h[:]
}

func num(n int64) *int64 { return &n }

// block is the File the parser records for a block numbered n whose
// footer names prev, starting at ns.
func block(n int64, prev []byte, ns int64) *File {
	root := hashOf("root of " + string(rune('a'+n)))
	return &File{Name: "000000000000000000" + string(rune('0'+n)) + ".blk.zstd", Kind: KindBlock, Version: 7,
		ConsensusStart: ns, ConsensusEnd: ns + 1, FileHash: root, PrevHash: prev, ChainHash: root, RootHash: root,
		BlockNumber: num(n), Outcome: Parsed}
}

// Blocks chain on the root hash named in their footer and on their
// number; the first block after a plain record file is taken on its
// number alone; a wrapped record block chains on the record stream's hash
// and hands its root hash to the block after it.
func TestFollows(t *testing.T) {
	record := &File{Name: "r.rcd", Kind: KindRecord, ChainHash: hashOf("record end"), BlockNumber: num(4)}
	wrapped := &File{Name: "w.blk", Kind: KindWrapped, PrevHash: hashOf("record end"), ChainHash: hashOf("wrapped record end"),
		RootHash: hashOf("wrapped root"), BlockNumber: num(5)}
	b6 := block(6, hashOf("wrapped root"), 60)
	b7 := block(7, b6.RootHash, 70)
	for _, tc := range []struct {
		name      string
		prev, f   *File
		ok        bool
		reason    string
		wantExpct []byte
	}{
		{"wrapped after record", record, wrapped, true, "", nil},
		{"block after wrapped", wrapped, b6, true, "", nil},
		{"block after block", b6, b7, true, "", nil},
		{"block after record, by number", record, block(5, hashOf("anything"), 50), true, "", nil},
		{"block after record, number skipped", record, block(6, hashOf("anything"), 50), false, "block number 6 after 4", nil},
		{"block naming another root", b6, block(7, hashOf("other"), 70), false, "previous block root hash", b6.RootHash},
		{"block skipping a number", b6, block(8, b6.RootHash, 80), false, "block number 8 after 6", nil},
		{"block naming the record hash after a wrapped block", wrapped, block(6, hashOf("wrapped record end"), 60), false, "previous block root hash", wrapped.RootHash},
		{"record file after a block", b7, &File{Name: "x.rcd", PrevHash: b7.ChainHash, BlockNumber: num(8)}, true, "", nil},
	} {
		v := Follows(tc.prev, tc.f)
		if v.OK != tc.ok || v.Reason != tc.reason || (tc.wantExpct != nil && string(v.Expected) != string(tc.wantExpct)) {
			t.Errorf("%s: %+v; want ok %v, reason %q", tc.name, v, tc.ok, tc.reason)
		}
	}
}

// Recorded blocks keep their kind and root hash; a skipped number is
// recorded as a break with its reason, and the block that fills the gap
// resolves it; a halt keeps where it stands.
func TestBlocksRecorded(t *testing.T) {
	s := newStore(t, "blocks")
	ctx := testCtx(t)
	b6 := block(6, hashOf("x"), 60)
	b7 := block(7, b6.RootHash, 70)
	b8 := block(8, b7.RootHash, 80)
	mustRecord(t, s, b6, nil)
	link := mustRecord(t, s, b8, nil)
	if link.Prev == nil || link.Prev.Name != b6.Name {
		t.Fatalf("b8's previous file %+v", link.Prev)
	}
	breaks, err := s.Breaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(breaks) != 1 || breaks[0].File != b8.Name || breaks[0].Reason != "previous block root hash" {
		t.Fatalf("breaks %+v", breaks)
	}
	got, err := s.Lookup(ctx, b8.Name)
	if err != nil || got.Kind != KindBlock || string(got.RootHash) != string(b8.RootHash) || *got.BlockNumber != 8 || got.Version != 7 {
		t.Fatalf("recorded %+v, %v", got, err)
	}
	link = mustRecord(t, s, b7, nil)
	if len(link.Resolved) != 1 || link.Resolved[0].File != b8.Name || link.Resolved[0].ResolvedBy != b7.Name {
		t.Fatalf("resolved %+v", link.Resolved)
	}
	b10 := block(9, b8.RootHash, 100)
	b10.BlockNumber = num(10)
	if err := s.Halt(ctx, b10, "chain broken"); err != nil {
		t.Fatal(err)
	}
	h, err := s.Halted(ctx)
	if err != nil || h == nil || *h.ConsensusStart != 100 || *h.BlockNumber != 10 {
		t.Fatalf("halt %+v, %v", h, err)
	}
}

// The migration numbers the record files before the first numbered one,
// counting back from it, and leaves the rest (and files of other networks
// without a numbered one) alone.
func TestMigrationNumbersEarlierFiles(t *testing.T) {
	before := fstest.MapFS{}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n >= "0003" {
			continue
		}
		data, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = &fstest.MapFile{Data: data}
	}
	env := svc.New(t, svc.Options{Postgres: true, Migrations: before, Service: "record-parser"})
	ctx := context.Background()
	insert := func(network, name string, start int64, number *int64, outcome string) {
		if _, err := env.Pool.Exec(ctx, `INSERT INTO parser_files (network, name, consensus_start, consensus_end, version, block_number, outcome)
			VALUES ($1, $2, $3, $3, 5, $4, $5)`, network, name, start, number, outcome); err != nil {
			t.Fatal(err)
		}
	}
	insert("n", "a.rcd", 1, nil, "parsed")
	insert("n", "b.rcd", 2, nil, "parsed")
	insert("n", "q.rcd", 3, nil, "quarantined")
	insert("n", "c.rcd", 4, nil, "parsed")
	insert("n", "d.rcd.gz", 5, num(41), "parsed")
	insert("n", "e.rcd.gz", 6, num(42), "parsed")
	insert("other", "z.rcd", 1, nil, "parsed")
	if err := pg.Migrate(ctx, env.Pool, "record-parser", migrations.FS); err != nil {
		t.Fatal(err)
	}
	rows, err := env.Pool.Query(ctx, `SELECT network || '/' || name, coalesce(block_number::text, '-'), kind FROM parser_files ORDER BY network, name`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n, b, k string
		if err := rows.Scan(&n, &b, &k); err != nil {
			t.Fatal(err)
		}
		got = append(got, n+"="+b+" "+k)
	}
	want := "n/a.rcd=38 record n/b.rcd=39 record n/c.rcd=40 record n/d.rcd.gz=41 record n/e.rcd.gz=42 record n/q.rcd=- record other/z.rcd=- record"
	if strings.Join(got, " ") != want {
		t.Errorf("after the migration:\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}
