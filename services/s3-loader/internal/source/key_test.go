package source

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		want string // kind schema table seq/time gzip, or "error: …"
	}{
		{"dms/dbo/orders/LOAD00000001.csv", "load dbo orders 1 false"},
		{"dms/dbo/orders/LOAD00000012.csv.gz", "load dbo orders 12 true"},
		{"dms/dbo/orders/20240101-120000123.csv", "cdc dbo orders 2024-01-01T12:00:00.123Z false"},
		{"dms/dbo/orders/2024/01/02/20240102-000000000.csv.gz", "cdc dbo orders 2024-01-02T00:00:00Z true"},
		{"dms/dbo/orders/2024/01/03/20240102-000000000.csv", "error: does not match the file's date"},
		{"dms/dbo/orders/notes.txt", "error: neither"},
		{"dms/dbo/orders/20241301-000000000.csv", "error: bad timestamp"},
		{"dms/dbo/or-ders/LOAD00000001.csv", "error: not plain"},
		{`dms/dbo/x"y/LOAD00000001.csv`, "error: not plain"},
		{"dms/1dbo/orders/LOAD00000001.csv", "error: not plain"},
		{"dms/dbo/LOAD00000001.csv", "error: want <schema>/<table>"},
		{"other/dbo/orders/LOAD00000001.csv", "error: is not below"},
	}
	for _, c := range cases {
		f, err := ParseKey("dms", c.key)
		var got string
		switch {
		case err != nil:
			got = "error: " + err.Error()
		case f.Kind == Load:
			got = strings.Join([]string{string(f.Kind), f.Schema, f.Table, itoa(f.Seq), btoa(f.Gzip)}, " ")
		default:
			got = strings.Join([]string{string(f.Kind), f.Schema, f.Table, f.Time.Format(time.RFC3339Nano), btoa(f.Gzip)}, " ")
		}
		if strings.HasPrefix(c.want, "error: ") {
			if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("ParseKey(%q) = %s, want %s", c.key, got, c.want)
			}
		} else if got != c.want {
			t.Errorf("ParseKey(%q) = %s, want %s", c.key, got, c.want)
		}
	}
}

// TestDeliveryOrder: keys sort "2024…" before "LOAD…"; delivery order puts
// every full load first, then changes by time, whatever the folder layout.
func TestDeliveryOrder(t *testing.T) {
	keys := []string{
		"dms/dbo/t/20240102-000000000.csv",
		"dms/dbo/t/2024/01/01/20240101-235959999.csv",
		"dms/dbo/t/LOAD00000010.csv",
		"dms/dbo/t/LOAD00000002.csv.gz",
		"dms/dbo/t/20240101-000000001.csv",
	}
	var files []File
	for _, k := range keys {
		f, err := ParseKey("dms", k)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return Before(files[i], files[j]) })
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimPrefix(f.Key, "dms/dbo/t/"))
	}
	want := "LOAD00000002.csv.gz LOAD00000010.csv 20240101-000000001.csv 2024/01/01/20240101-235959999.csv 20240102-000000000.csv"
	if strings.Join(got, " ") != want {
		t.Fatalf("order = %v\nwant    %s", got, want)
	}
}

func TestCDCStartAfterSortsBeforeLaterFiles(t *testing.T) {
	ts := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	flat := cdcStartAfter("dms/dbo/t/", ts, false)
	if !(flat < "dms/dbo/t/20240101-120000000.csv" && flat > "dms/dbo/t/20240101-115959999.csv") {
		t.Fatalf("flat marker %q does not sit just before 12:00:00.000", flat)
	}
	dated := cdcStartAfter("dms/dbo/t/", ts, true)
	if !(dated < "dms/dbo/t/2024/01/01/20240101-120000000.csv" && dated > "dms/dbo/t/2024/01/01/20240101-115959999.csv") {
		t.Fatalf("dated marker %q does not sit just before 12:00:00.000", dated)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
func btoa(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
