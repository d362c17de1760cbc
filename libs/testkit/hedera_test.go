package testkit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixtures are third-party bytes the readers are judged against: every
// file MANIFEST.tsv lists must be in the repository with its size and
// SHA-256, and nothing unlisted may sit among them.
func TestHederaFixturesMatchManifest(t *testing.T) {
	root := HederaFixtures(t)
	f, err := os.Open(filepath.Join(root, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 {
			if cols[0] != "path" || cols[2] != "sha256" {
				t.Fatalf("MANIFEST.tsv header %q", sc.Text())
			}
			continue
		}
		if len(cols) != 7 {
			t.Fatalf("MANIFEST.tsv line %d: %d columns, want 7", line, len(cols))
		}
		rel, size, sum := cols[0], cols[1], cols[2]
		listed[rel] = true
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if strconv.Itoa(len(data)) != size {
			t.Errorf("%s: %d bytes, MANIFEST.tsv says %s", rel, len(data), size)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: SHA-256 %x, MANIFEST.tsv says %s", rel, got, sum)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(listed) < 100 {
		t.Fatalf("MANIFEST.tsv lists %d files; the fixtures hold about 150", len(listed))
	}
	for _, dir := range []string{"hedera-mirror-node", "hiero-block-node"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if !listed[filepath.ToSlash(rel)] {
				t.Errorf("%s is not in MANIFEST.tsv (add its provenance row)", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
