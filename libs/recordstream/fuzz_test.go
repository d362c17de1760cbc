package recordstream

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds is every fixture file small enough to mutate quickly (the 2 MB
// files add nothing the small v2 files do not cover), and whether it is
// gzipped.
func fuzzSeeds(t testing.TB) (seeds [][]byte, gz []bool) {
	root := filepath.Join(fixtureRoot(t), "hedera-mirror-node")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(data) < 64<<10 {
			seeds = append(seeds, data)
			gz = append(gz, strings.HasSuffix(p, ".gz"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seeds, gz
}

// readAny runs every reader over data: nothing may panic, and what reads
// must be whole, with hashes of the right size and items with records.
func readAny(t *testing.T, data []byte, gz bool) {
	name := "2022-07-13T08_46_11.304284003Z.rcd"
	if gz {
		name += ".gz"
	}
	if rf, err := Parse(name, data); err == nil {
		if len(rf.FileHash) != HashSize || len(rf.PrevHash) != HashSize {
			t.Fatalf("read with file hash %d bytes, previous hash %d", len(rf.FileHash), len(rf.PrevHash))
		}
		if rf.Version != 2 && (len(rf.EndRunningHash) != HashSize || len(rf.MetadataHash) != HashSize) {
			t.Fatalf("v%d read with end hash %d bytes, metadata hash %d", rf.Version, len(rf.EndRunningHash), len(rf.MetadataHash))
		}
		for i, it := range rf.Items {
			if len(it.Record) == 0 {
				t.Fatalf("item %d without a record", i)
			}
		}
	}
	if s, err := ParseSignature(name+"_sig", data); err == nil {
		if len(s.FileHash) != HashSize || len(s.FileSignature) == 0 {
			t.Fatalf("signature read with file hash %d bytes, signature %d", len(s.FileHash), len(s.FileSignature))
		}
	}
	_, _ = ParseSidecar(name, data)
	_, _ = ReadAddressBook("book", bytes.NewReader(data))
}

// FuzzRead feeds arbitrary bytes to every reader, as each kind of file
// (plain and gzipped); the seed corpus is the fixture files.
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 30s ./recordstream/
func FuzzRead(f *testing.F) {
	seeds, gz := fuzzSeeds(f)
	for i := range seeds {
		f.Add(seeds[i], gz[i])
	}
	f.Fuzz(readAny)
}

// The fuzz target's check over fixture files mutated at random (bits
// flipped, bytes replaced, cut), from a fixed seed so a failure repeats:
// what make test runs of fuzzing.
func TestMutatedFixtures(t *testing.T) {
	seeds, gz := fuzzSeeds(t)
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 3000; n++ {
		i := r.Intn(len(seeds))
		data := bytes.Clone(seeds[i])
		for k := 0; k < 1+r.Intn(4) && len(data) > 0; k++ {
			switch at := r.Intn(len(data)); r.Intn(3) {
			case 0:
				data[at] ^= 1 << r.Intn(8)
			case 1:
				data[at] = byte(r.Intn(256))
			default:
				data = data[:at]
			}
		}
		readAny(t, data, gz[i] != (r.Intn(4) == 0))
	}
}
