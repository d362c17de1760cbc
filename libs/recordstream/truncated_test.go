package recordstream

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cutPoints is where to cut a file: everywhere in a small one, an even
// spread and the last bytes of a large one (fewer for the 2 MB files, each
// of whose reads hashes all of it).
func cutPoints(n int) []int {
	if n <= 12000 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	tail, spread := 64, 256
	if n > 1<<20 {
		tail, spread = 8, 16
	}
	var out []int
	for i := 0; i < n-tail; i += n / spread {
		out = append(out, i)
	}
	for i := n - tail; i < n; i++ {
		out = append(out, i)
	}
	return out
}

func truncationReason(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed)
}

// A record file cut anywhere is refused with an error naming it. The one
// cut no reader can see is a v2 file cut between items (the format has no
// end marker): that file parses, but no longer matches its signature.
func TestTruncatedRecordFiles(t *testing.T) {
	for _, p := range pairs(t) {
		if p.ff.Node != "0.0.3" {
			continue
		}
		t.Run(p.ff.Rel, func(t *testing.T) {
			sig, err := ParseSignature("sig", p.sig)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range cutPoints(len(p.record)) {
				rf, err := Parse(p.ff.Base, p.record[:n])
				if err == nil {
					if rf.Version == 2 && rf.Matches(sig) != nil {
						continue
					}
					t.Fatalf("cut at %d of %d: read, want an error", n, len(p.record))
				}
				if !truncationReason(err) || !strings.Contains(err.Error(), p.ff.Base) {
					t.Fatalf("cut at %d: %v: want truncated or malformed, naming the file", n, err)
				}
			}
		})
	}
}

// A signature or sidecar file cut anywhere is refused.
func TestTruncatedSignaturesAndSidecars(t *testing.T) {
	var files []string
	for _, p := range pairs(t) {
		if p.ff.Node == "0.0.3" {
			files = append(files, p.ff.sigPath(t))
		}
	}
	sidecars, _ := filepath.Glob(filepath.Join(streamsDir(t), "v6", "record0.0.3", "sidecar", "*.rcd.gz"))
	files = append(files, sidecars...)
	if len(sidecars) == 0 {
		t.Fatal("no sidecar fixture")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		for _, n := range cutPoints(len(data)) {
			if strings.HasSuffix(name, "_sig") {
				_, err = ParseSignature(name, data[:n])
			} else {
				_, err = ParseSidecar(name, data[:n])
			}
			if err == nil || !truncationReason(err) || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s cut at %d of %d: %v: want truncated or malformed, naming the file", name, n, len(data), err)
			}
		}
	}
}
