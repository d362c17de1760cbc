package recordstream

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pair is a record file with its node's signature file, both read.
type pair struct {
	ff     fixtureFile
	record []byte // as stored
	sig    []byte
	book   *AddressBook
}

func pairs(t *testing.T) []pair {
	t.Helper()
	var out []pair
	for _, ff := range recordFiles(t) {
		out = append(out, pair{ff: ff, record: readFixture(t, ff.path(t)), sig: readFixture(t, ff.sigPath(t)), book: bookFor(t, ff.Dataset)})
	}
	return out
}

// Every record/signature pair of the fixtures: the node's signature
// verifies with its key from the dataset's address book, and signs the hashes
// the record file has. The README counts 45 pairs.
func TestEveryPairVerifies(t *testing.T) {
	ps := pairs(t)
	if len(ps) != 45 {
		t.Errorf("%d record/signature pairs, the fixtures hold 45", len(ps))
	}
	for _, p := range ps {
		t.Run(p.ff.Rel, func(t *testing.T) {
			rf, err := Parse(p.ff.Base, p.record)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ReadSignature(filepath.Base(p.ff.sigPath(t)), bytes.NewReader(p.sig))
			if err != nil {
				t.Fatal(err)
			}
			if sig.Version != rf.Version {
				t.Errorf("signature version %d, record file %d", sig.Version, rf.Version)
			}
			if err := p.book.Verify(p.ff.Node, sig); err != nil {
				t.Errorf("verify with node %s's key: %v", p.ff.Node, err)
			}
			if err := rf.Matches(sig); err != nil {
				t.Error(err)
			}
			// Another node's key must not verify it.
			other := "0.0.4"
			if p.ff.Node == other {
				other = "0.0.3"
			}
			if err := p.book.Verify(other, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("verified with node %s's key: %v", other, err)
			}
		})
	}
}

// flipPositions picks the bytes to tamper with: every byte of a small
// file, both ends and an even spread of a large one (fewer for the 2 MB
// files, each of whose reads hashes all of it).
func flipPositions(n int) []int {
	if n <= 4096 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	ends, spread := 64, 512
	if n > 1<<20 {
		ends, spread = 4, 8
	}
	var out []int
	for i := 0; i < ends; i++ {
		out = append(out, i, n-1-i)
	}
	for i := ends; i < n-ends; i += n / spread {
		out = append(out, i)
	}
	return out
}

// One bit flipped anywhere in a record file: it is refused, or its hashes
// no longer match what the node signed.
func TestTamperedRecordFails(t *testing.T) {
	for _, p := range pairs(t) {
		if p.ff.Node != "0.0.3" {
			continue // the other copies have the same content
		}
		t.Run(p.ff.Rel, func(t *testing.T) {
			sig, err := ParseSignature("sig", p.sig)
			if err != nil {
				t.Fatal(err)
			}
			// The gzip header after its magic (flags, mtime, OS, the
			// original name) is covered by no hash: it differs between
			// nodes' copies of one file. Everything else is.
			skipFrom, skipTo := 0, 0
			if strings.HasSuffix(p.ff.Base, ".gz") {
				skipFrom, skipTo = 3, gzipHeaderLen(t, p.record)
			}
			for _, i := range flipPositions(len(p.record)) {
				if i >= skipFrom && i < skipTo {
					continue
				}
				tampered := bytes.Clone(p.record)
				tampered[i] ^= 1 << (i % 8)
				rf, err := Parse(p.ff.Base, tampered)
				if err == nil {
					err = rf.Matches(sig)
				}
				if err == nil {
					t.Fatalf("bit %d of byte %d flipped: still matches its signature", i%8, i)
				}
			}
		})
	}
}

// One bit flipped in a signature, or in the hash it signs: it no longer
// verifies.
func TestTamperedSignatureFails(t *testing.T) {
	for _, p := range pairs(t) {
		t.Run(p.ff.Rel, func(t *testing.T) {
			sig, err := ParseSignature("sig", p.sig)
			if err != nil {
				t.Fatal(err)
			}
			key := p.book.Key(p.ff.Node)
			parts := [][]byte{sig.FileHash, sig.FileSignature}
			if sig.Version >= 5 {
				parts = append(parts, sig.MetadataHash, sig.MetadataSignature)
			}
			for _, part := range parts {
				at := bytes.Index(p.sig, part)
				if at < 0 {
					t.Fatal("signed part not found in the signature file")
				}
				for _, i := range []int{at, at + len(part)/2, at + len(part) - 1} {
					tampered := bytes.Clone(p.sig)
					tampered[i] ^= 0x10
					s, err := ParseSignature("sig", tampered)
					if err != nil {
						t.Fatalf("byte %d flipped: %v", i, err)
					}
					if err := s.Verify(key); !errors.Is(err, ErrBadSignature) {
						t.Errorf("byte %d flipped: verify gave %v, want %v", i, err, ErrBadSignature)
					}
				}
			}
		})
	}
}

// Consecutive files of each node's stream chain, across version changes;
// the eth-0.26.0 pair, which is not consecutive, does not.
func TestChains(t *testing.T) {
	files := recordFiles(t)
	links, broken := 0, 0
	for i := 1; i < len(files); i++ {
		prev, next := files[i-1], files[i]
		if prev.Dataset != next.Dataset || prev.Node != next.Node {
			continue
		}
		pf, err := Parse(prev.Base, readFixture(t, prev.path(t)))
		if err != nil {
			t.Fatal(err)
		}
		nf, err := Parse(next.Base, readFixture(t, next.path(t)))
		if err != nil {
			t.Fatal(err)
		}
		err = Follows(pf, nf)
		if next.Dataset == "eth-0.26.0" {
			broken++
			if !errors.Is(err, ErrChainBroken) {
				t.Errorf("%s -> %s: %v, want the chain broken", prev.Rel, next.Rel, err)
			} else if !strings.Contains(err.Error(), next.Base) || !strings.Contains(err.Error(), prev.Base) {
				t.Errorf("chain error %q does not name both files", err)
			}
			continue
		}
		links++
		if err != nil {
			t.Errorf("%s -> %s: %v", prev.Rel, next.Rel, err)
		}
	}
	// v2, v5, v6, v2v5, v5v6 on four nodes and the performance chain of 3.
	if links != 22 || broken != 1 {
		t.Errorf("%d links and %d broken, the fixtures hold 22 and 1", links, broken)
	}
}

// The standalone signature files of the mirror node's signature-reader
// tests read as their versions; the v2 one belongs to v2/'s first file.
func TestStandaloneSignatures(t *testing.T) {
	dir := filepath.Join(fixtureRoot(t), "hedera-mirror-node", "signature")
	want := expected(t)["v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd"]
	for _, version := range []int{2, 5, 6} {
		matches, _ := filepath.Glob(filepath.Join(dir, "v"+string(rune('0'+version)), "*.rcd_sig"))
		if len(matches) == 0 {
			t.Fatalf("no v%d signature files in %s", version, dir)
		}
		for _, p := range matches {
			s, err := ParseSignature(filepath.Base(p), readFixture(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if s.Version != version || len(s.FileHash) != HashSize || len(s.FileSignature) != 384 {
				t.Errorf("%s: version %d, file hash %d bytes, signature %d bytes", p, s.Version, len(s.FileHash), len(s.FileSignature))
			}
			if version >= 5 && (len(s.MetadataHash) != HashSize || len(s.MetadataSignature) != 384) {
				t.Errorf("%s: metadata hash %d bytes, signature %d bytes", p, len(s.MetadataHash), len(s.MetadataSignature))
			}
			if version == 2 && !bytes.Equal(s.FileHash, unhex(t, want.FileHash)) {
				t.Errorf("%s: file hash %x, want v2's first file's %s", p, s.FileHash, want.FileHash)
			}
		}
	}
}

func TestAddressBooks(t *testing.T) {
	for _, name := range []string{"testnet", "test-v6-4n.bin", "test-v6-sidecar-4n.bin"} {
		b := loadBook(t, name)
		nodes := b.Nodes()
		var accounts []string
		for i, n := range nodes {
			accounts = append(accounts, n.Account)
			if n.Key.N.BitLen() != 3072 {
				t.Errorf("%s: node %s key of %d bits, want 3072", name, n.Account, n.Key.N.BitLen())
			}
			if n.NodeID != int64(i) {
				t.Errorf("%s: node %s has node id %d, want %d", name, n.Account, n.NodeID, i)
			}
		}
		if got := strings.Join(accounts, ","); got != "0.0.3,0.0.4,0.0.5,0.0.6" {
			t.Errorf("%s: nodes %s", name, got)
		}
	}
	if _, err := ReadAddressBook("junk", strings.NewReader("\xff\xff")); !errors.Is(err, ErrMalformed) {
		t.Errorf("junk address book: %v", err)
	}
}

// Keys from PEM (the downloader's NODE_PUBLIC_KEYS) verify as the book's do.
func TestPEMKeys(t *testing.T) {
	book := loadBook(t, "testnet")
	dir := t.TempDir()
	var nodes []Node
	for _, n := range book.Nodes() {
		pemBytes := pemPublicKey(t, n.Key)
		p := filepath.Join(dir, n.Account+".pem")
		if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := ParsePublicKeyPEM(readFixture(t, p))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, Node{Account: n.Account, Key: key})
	}
	fromPEM, err := NewAddressBook(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	ff := filepath.Join(streamsDir(t), "v2", "record0.0.5", "2019-08-30T18_10_05.249678Z.rcd_sig")
	sig, err := ParseSignature(filepath.Base(ff), readFixture(t, ff))
	if err != nil {
		t.Fatal(err)
	}
	if err := fromPEM.Verify("0.0.5", sig); err != nil {
		t.Error(err)
	}
	if _, err := NewAddressBook(nodes[0], nodes[0]); err == nil {
		t.Error("a node given twice was accepted")
	}
	if _, err := ParsePublicKeyPEM([]byte("not pem")); err == nil {
		t.Error("not PEM was accepted")
	}
}
