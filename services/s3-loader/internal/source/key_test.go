package source

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"tributary.dev/services/s3-loader/internal/dms"
)

var slashDays = dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		part dms.DatePartition
		want string // kind schema table seq/time gzip, or "error: …" ("unplaceable: …" for ErrUnplaceable)
	}{
		{"dms/dbo/orders/LOAD00000001.csv", slashDays, "load dbo orders 1 false"},
		{"dms/dbo/orders/LOAD00000012.csv.gz", slashDays, "load dbo orders 18 true"}, // hexadecimal: 0x12
		{"dms/dbo/orders/LOAD0000000A.csv", slashDays, "load dbo orders 10 false"},
		{"dms/dbo/orders/LOAD0000000F.csv", slashDays, "load dbo orders 15 false"},
		{"dms/dbo/orders/LOAD00000010.csv", slashDays, "load dbo orders 16 false"},
		{"dms/dbo/orders/LOAD0000000a.csv", slashDays, "unplaceable: upper-case hexadecimal"},
		{"dms/dbo/orders/LOAD0000001.csv", slashDays, "unplaceable: upper-case hexadecimal"},
		{"dms/dbo/orders/LOAD00000001.parquet", slashDays, "unplaceable: Parquet"},
		{"dms/dbo/orders/SEGMENT1_LOAD00000001.csv", slashDays, "unplaceable: parallel-load"},
		{"dms/dbo/orders/custom_segment1/LOAD00000001.csv", slashDays, "unplaceable: sub-folder"},
		{"dms/dbo/orders/20240101-120000123.csv", slashDays, "cdc dbo orders 2024-01-01T12:00:00.123Z false"},
		{"dms/dbo/orders/20141029-1134010000.csv", slashDays, "cdc dbo orders 2014-10-29T11:34:01Z false"}, // the guide's example
		{"dms/dbo/orders/20141029-1134015.csv", slashDays, "cdc dbo orders 2014-10-29T11:34:01.5Z false"},
		{"dms/dbo/orders/2024/01/02/20240102-000000000.csv.gz", slashDays, "cdc dbo orders 2024-01-02T00:00:00Z true"},
		// A file named just after midnight in the day before's folder.
		{"dms/dbo/orders/2024/01/01/20240102-000000100.csv", slashDays, "cdc dbo orders 2024-01-02T00:00:00.1Z false"},
		{"dms/dbo/orders/2024/01/03/20240102-000000000.csv", slashDays, "unplaceable: later than the file's own time"},
		{"dms/dbo/orders/2024/01/02/20240102-000000000.csv", dms.DatePartition{}, "unplaceable: DMS_DATE_PARTITION_ENABLED is false"},
		{"dms/dbo/orders/2024-01-02/20240102-000000000.csv", slashDays, "unplaceable: is not a date folder"},
		{"dms/dbo/orders/2024-01-02/20240102-000000000.csv", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "DASH"}, "cdc dbo orders 2024-01-02T00:00:00Z false"},
		{"dms/dbo/orders/2024010213/20240102-133000000.csv", dms.DatePartition{Enabled: true, Sequence: "YYYYMMDDHH", Delimiter: "NONE"}, "cdc dbo orders 2024-01-02T13:30:00Z false"},
		{"dms/dbo/orders/notes.txt", slashDays, "unplaceable: neither"},
		{"dms/dbo/orders/20241301-000000000.csv", slashDays, "unplaceable: bad timestamp"},
		{"dms/dbo/or-ders/LOAD00000001.csv", slashDays, "error: not plain"},
		{`dms/dbo/x"y/LOAD00000001.csv`, slashDays, "error: not plain"},
		{"dms/1dbo/orders/LOAD00000001.csv", slashDays, "error: not plain"},
		{"dms/dbo/LOAD00000001.csv", slashDays, "error: want <schema>/<table>"},
		{"other/dbo/orders/LOAD00000001.csv", slashDays, "error: is not below"},
	}
	for _, c := range cases {
		f, err := ParseKey("dms", c.key, c.part, time.Time{})
		var got string
		switch {
		case errors.Is(err, ErrUnplaceable):
			got = "unplaceable: " + err.Error()
		case err != nil:
			got = "error: " + err.Error()
		case f.Kind == Load:
			got = fmt.Sprint(f.Kind, " ", f.Schema, " ", f.Table, " ", f.Seq, " ", f.Gzip)
		default:
			got = fmt.Sprint(f.Kind, " ", f.Schema, " ", f.Table, " ", f.Time.Format(time.RFC3339Nano), " ", f.Gzip)
		}
		if prefix, rest, ok := strings.Cut(c.want, ": "); ok && (prefix == "error" || prefix == "unplaceable") {
			if !strings.HasPrefix(got, prefix+": ") || !strings.Contains(got, rest) {
				t.Errorf("ParseKey(%q) = %s, want %s", c.key, got, c.want)
			}
		} else if got != c.want {
			t.Errorf("ParseKey(%q) = %s, want %s", c.key, got, c.want)
		}
	}
}

// TestDatedNamesInTheirZone: with DatePartitionTimezone a dated CDC name
// is local time there; a flat one stays UTC.
func TestDatedNamesInTheirZone(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	p := slashDays
	p.Zone = seoul
	dated, err := ParseKey("dms", "dms/dbo/t/2024/01/02/20240102-090000000.csv", p, time.Time{})
	if err != nil || !dated.Time.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("09:00 in Seoul = %v, %v; want midnight UTC", dated.Time, err)
	}
	flat, err := ParseKey("dms", "dms/dbo/t/20240102-090000000.csv", p, time.Time{})
	if err != nil || !flat.Time.Equal(time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("a flat name = %v, %v; want it read as UTC", flat.Time, err)
	}
}

// TestDeliveryOrder: keys sort "2024…" before "LOAD…" and LOAD0000000A
// after LOAD00000009; delivery order puts every full load first by its
// hexadecimal number, then changes by time, whatever the folder layout.
func TestDeliveryOrder(t *testing.T) {
	keys := []string{
		"dms/dbo/t/20240102-000000000.csv",
		"dms/dbo/t/2024/01/01/20240101-235959999.csv",
		"dms/dbo/t/LOAD00000010.csv",
		"dms/dbo/t/LOAD0000000A.csv",
		"dms/dbo/t/LOAD00000002.csv.gz",
		"dms/dbo/t/LOAD00000009.csv",
		"dms/dbo/t/20240101-000000001.csv",
	}
	var files []File
	for _, k := range keys {
		f, err := ParseKey("dms", k, slashDays, time.Time{})
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
	want := "LOAD00000002.csv.gz LOAD00000009.csv LOAD0000000A.csv LOAD00000010.csv 20240101-000000001.csv 2024/01/01/20240101-235959999.csv 20240102-000000000.csv"
	if strings.Join(got, " ") != want {
		t.Fatalf("order = %v\nwant    %s", got, want)
	}
	if LoadName(10) != "LOAD0000000A" || LoadName(16) != "LOAD00000010" {
		t.Fatalf("LoadName(10), LoadName(16) = %s, %s", LoadName(10), LoadName(16))
	}
}

func TestCDCStampSortsBeforeLaterFiles(t *testing.T) {
	ts := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	flat := "dms/dbo/t/" + cdcStamp(ts, time.UTC)
	if !(flat < "dms/dbo/t/20240101-120000000.csv" && flat > "dms/dbo/t/20240101-115959999.csv" && flat > "dms/dbo/t/20240101-1159599999.csv") {
		t.Fatalf("flat marker %q does not sit just before 12:00:00.000", flat)
	}
}
