package recordstream

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRead feeds arbitrary bytes to every reader, as each kind of file
// (plain and gzipped). Nothing may panic, and what reads must be whole:
// hashes of the right size and items with both halves. The seed corpus is
// every fixture file.
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 30s ./recordstream/
func FuzzRead(f *testing.F) {
	root := filepath.Join(fixtureRoot(f), "hedera-mirror-node")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		// The 2 MB files slow every fuzz run down for nothing the small
		// v2 files do not cover.
		if len(data) < 64<<10 {
			f.Add(data, strings.HasSuffix(p, ".gz"))
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, gz bool) {
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
	})
}
