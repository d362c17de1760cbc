package source

import (
	"context"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/s3-loader/internal/dms"
)

func newStore(t *testing.T) blob.Store {
	t.Helper()
	st, err := blob.Open(context.Background(), testkit.S3(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func putKeys(t *testing.T, st blob.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := st.Put(context.Background(), k, strings.NewReader("1\n"), 2); err != nil {
			t.Fatal(err)
		}
	}
}

func names(l Listing) string {
	var out []string
	for _, f := range l.Files {
		out = append(out, strings.TrimPrefix(f.Key, "dms/dbo/t/"))
	}
	for _, u := range l.Unplaced {
		out = append(out, "?"+strings.TrimPrefix(u.Key, "dms/dbo/t/"))
	}
	return strings.Join(out, " ")
}

// TestScanNewPerLayout runs against a real S3 server (versitygw): the
// files directly in the table folder and those in date folders are each
// listed from their own position. Date folders switched on mid-stream
// ("2024/01/02/…" sorts before the flat "20240101-…" position) are found,
// sub-folders are stepped over in the flat listing, folders before the
// start are left out, and a stray key in a listed place is reported.
func TestScanNewPerLayout(t *testing.T) {
	for _, c := range []struct {
		name string
		part dms.DatePartition
		dir  func(day string) string // date folder of a yyyymmdd day
	}{
		{"slash", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}, func(d string) string { return d[:4] + "/" + d[4:6] + "/" + d[6:] }},
		{"dash", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "DASH"}, func(d string) string { return d[:4] + "-" + d[4:6] + "-" + d[6:] }},
		{"none", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "NONE"}, func(d string) string { return d }},
		{"hourly", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDDHH", Delimiter: "SLASH"}, func(d string) string { return d[:4] + "/" + d[4:6] + "/" + d[6:] + "/12" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t)
			tp := "dms/dbo/t/"
			putKeys(t, st,
				tp+"LOAD00000001.csv", tp+"LOAD0000000A.csv",
				tp+"20231231-120000000.csv",                    // flat, before the window
				tp+"20240101-120000000.csv",                    // flat, the last applied
				tp+"20240101-130000000.csv",                    // flat, new
				tp+c.dir("20231230")+"/20231230-120000000.csv", // dated, folder before the window
				tp+c.dir("20240102")+"/20240102-120000000.csv", // dated after the switch
				tp+c.dir("20250601")+"/20250601-120000000.csv", // dated, a year on
				tp+c.dir("20240102")+"/readme.txt",             // stray
			)
			src := New(st, "dms", c.part)
			since := time.Date(2024, 1, 1, 11, 0, 0, 0, time.UTC)
			l, err := src.ScanNew(context.Background(), Table{"dbo", "t"}, Window{Since: since, FolderSince: since})
			if err != nil {
				t.Fatal(err)
			}
			want := "LOAD00000001.csv LOAD0000000A.csv 20240101-120000000.csv 20240101-130000000.csv " +
				c.dir("20240102") + "/20240102-120000000.csv " + c.dir("20250601") + "/20250601-120000000.csv ?" + c.dir("20240102") + "/readme.txt"
			if got := names(l); got != want {
				t.Fatalf("ScanNew found\n %s\nwant\n %s", got, want)
			}
			all, err := src.Scan(context.Background(), Table{"dbo", "t"})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(all.Files) + len(all.Unplaced); n != 9 {
				t.Fatalf("Scan found %d keys, want all 9: %s", n, names(all))
			}
		})
	}
}
