package recordstream

import (
	"bytes"
	"errors"
	"path"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// The v6 sidecar on every node: its hash is the one its record file lists,
// and it holds the records and kinds expected.json gives.
func TestSidecarsMatchRecordFile(t *testing.T) {
	want := expected(t)
	seen := 0
	for _, ff := range recordFiles(t) {
		exp := want[ff.expectedKey()]
		if len(exp.Sidecars) == 0 {
			continue
		}
		rf, err := Parse(ff.Base, readFixture(t, ff.path(t)))
		if err != nil {
			t.Fatal(err)
		}
		for i, meta := range rf.Sidecars {
			seen++
			p := filepath.Join(filepath.Dir(ff.path(t)), "sidecar", meta.Name)
			data := readFixture(t, p)
			sc, err := ReadSidecar(path.Join("sidecar", meta.Name), bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if err := meta.Check(sc); err != nil {
				t.Errorf("%s: %v", ff.Rel, err)
			}
			e := exp.Sidecars[i]
			if len(sc.Records) != e.Records {
				t.Errorf("%s: %d sidecar records, want %d", p, len(sc.Records), e.Records)
			}
			if got := typeInts(sc.Types()); !equalInts(got, e.Types) {
				t.Errorf("%s: record kinds %v, want %v", p, got, e.Types)
			}
			if ff.Node == "0.0.3" && sc.Size != e.Size {
				t.Errorf("%s: size %d, want %d", p, sc.Size, e.Size)
			}
			// Each sidecar record belongs to an item of the record file.
			times := map[int64]bool{}
			for _, it := range rf.Items {
				times[it.ConsensusNs] = true
			}
			for j, r := range sc.Records {
				ts := r.GetConsensusTimestamp()
				if ns := ts.GetSeconds()*1e9 + int64(ts.GetNanos()); !times[ns] {
					t.Errorf("%s: sidecar record %d at %d matches no item", p, j, ns)
				}
			}

			// The same sidecar with one record changed no longer
			// matches.
			var sf hederapb.SidecarFile
			if err := proto.Unmarshal(gunzip(t, data), &sf); err != nil {
				t.Fatal(err)
			}
			sf.SidecarRecords[0].Migration = !sf.SidecarRecords[0].Migration
			changed, err := ParseSidecar(meta.Name, gzipBytes(t, mustMarshal(t, &sf)))
			if err != nil {
				t.Fatal(err)
			}
			if err := meta.Check(changed); !errors.Is(err, ErrHashMismatch) {
				t.Errorf("changed sidecar: %v, want %v", err, ErrHashMismatch)
			}
		}
	}
	if seen != 4 {
		t.Errorf("%d sidecars checked, the fixtures hold 4 (one per node)", seen)
	}
}

func TestSidecarName(t *testing.T) {
	for _, tc := range []struct {
		record string
		id     int32
		want   string
	}{
		{"2022-07-13T08_46_11.304284003Z.rcd.gz", 1, "2022-07-13T08_46_11.304284003Z_01.rcd.gz"},
		{"recordstreams/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd", 12, "2022-07-13T08_46_11.304284003Z_12.rcd.gz"},
	} {
		if got := SidecarName(tc.record, tc.id); got != tc.want {
			t.Errorf("SidecarName(%s, %d) = %s, want %s", tc.record, tc.id, got, tc.want)
		}
	}
}

func TestNameTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   int64
	}{
		{"2022-07-13T08_46_11.304284003Z.rcd.gz", 1657701971304284003},
		{"record0.0.3/2019-08-30T18_10_00.419072Z.rcd_sig", 1567188600419072000},
		{"sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz", 1657701971304284003},
	} {
		got, err := NameTime(tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.UnixNano() != tc.ns {
			t.Errorf("%s: %d, want %d", tc.name, got.UnixNano(), tc.ns)
		}
	}
	for _, bad := range []string{"", "x.rcd", "2022-13-13T08_46_11Z.rcd", "../2022-07-13T08:46:11Z.rcd"} {
		if got, err := NameTime(bad); err == nil {
			t.Errorf("%q: %v, want an error", bad, got)
		}
	}
}
