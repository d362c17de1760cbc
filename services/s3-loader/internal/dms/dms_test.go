package dms

import (
	"strings"
	"testing"
	"time"
)

// TestOpFieldFollowsTheGuide holds CDCHasOp, LoadHasOp and CDCOps to the
// tables of the user guide's "Indicating source DB operations in migrated
// S3 data", row by row.
func TestOpFieldFollowsTheGuide(t *testing.T) {
	cases := []struct {
		includeOp, insertsOnly, insertsAndUpdates bool
		load, cdc                                 string // "" no field, else the letters it may hold
	}{
		// includeOpForFullLoad × cdcInsertsOnly
		{true, true, false, "I", "I"},
		{false, false, false, "", "IUD"},
		{false, true, false, "", ""},
		{true, false, false, "I", "IUD"},
		// includeOpForFullLoad × cdcInsertsAndUpdates
		{true, false, true, "I", "IU"},
		{false, false, true, "", "IU"},
	}
	for _, c := range cases {
		s := Settings{IncludeOpForFullLoad: c.includeOp, CdcInsertsOnly: c.insertsOnly, CdcInsertsAndUpdates: c.insertsAndUpdates}
		load, cdc := "", ""
		if s.LoadHasOp() {
			load = "I"
		}
		if s.CDCHasOp() {
			cdc = s.CDCOps()
		}
		if load != c.load || cdc != c.cdc {
			t.Errorf("%+v: full load %q, CDC %q; the guide says %q, %q", c, load, cdc, c.load, c.cdc)
		}
	}
	if err := (Settings{CdcInsertsOnly: true, CdcInsertsAndUpdates: true}).Validate(); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Errorf("both CDC filters accepted: %v", err)
	}
	if err := (Settings{UseCsvNoSupValue: true}).Validate(); err == nil || !strings.Contains(err.Error(), "DMS_CSV_NO_SUP_VALUE") {
		t.Errorf("UseCsvNoSupValue without a value accepted: %v", err)
	}
}

// TestFolders: each DatePartitionSequence and DatePartitionDelimiter
// names the folder of an instant as the guide lists them, and reads back.
func TestFolders(t *testing.T) {
	at := time.Date(2024, 3, 9, 7, 30, 0, 0, time.UTC)
	want := map[string]string{
		"YYYYMMDD/SLASH": "2024/03/09", "YYYYMMDD/DASH": "2024-03-09", "YYYYMMDD/UNDERSCORE": "2024_03_09", "YYYYMMDD/NONE": "20240309",
		"YYYYMMDDHH/SLASH": "2024/03/09/07", "YYYYMMDDHH/NONE": "2024030907",
		"YYYYMM/SLASH": "2024/03", "YYYYMM/DASH": "2024-03",
		"MMYYYYDD/SLASH": "03/2024/09", "MMYYYYDD/NONE": "03202409",
		"DDMMYYYY/SLASH": "09/03/2024", "DDMMYYYY/UNDERSCORE": "09_03_2024",
	}
	for k, w := range want {
		seq, delim, _ := strings.Cut(k, "/")
		p := DatePartition{Enabled: true, Sequence: seq, Delimiter: delim}
		if got := p.Folder(at); got != w {
			t.Errorf("%s: Folder = %q, want %q", k, got, w)
		}
		start, ok := p.ParseFolder(w)
		if !ok || !start.Equal(p.Start(at)) {
			t.Errorf("%s: ParseFolder(%q) = %v, %v; want %v", k, w, start, ok, p.Start(at))
		}
	}
	p := DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}
	for _, bad := range []string{"2024/02/30", "2024/13/01", "2024/3/09", "2024/03", "2024-03-09", "abcd/03/09", "2024/03/09/07"} {
		if _, ok := p.ParseFolder(bad); ok {
			t.Errorf("ParseFolder(%q) accepted", bad)
		}
	}
	// Asia/Seoul is nine hours ahead: 20:00 UTC is the next day there.
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	p.Zone = seoul
	if got := p.Folder(time.Date(2024, 3, 9, 20, 0, 0, 0, time.UTC)); got != "2024/03/10" {
		t.Errorf("Seoul folder = %q, want 2024/03/10", got)
	}
	got := strings.Join(p.Folders(time.Date(2024, 2, 28, 15, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC)), " ")
	if got != "2024/02/29 2024/03/01 2024/03/02" {
		t.Errorf("Folders = %s", got)
	}
}

// TestMayReach: branches of the folder tree whose periods all end before
// the start are left out; the rest, and anything that is not a date, are
// looked into.
func TestMayReach(t *testing.T) {
	p := DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}
	from := time.Date(2024, 3, 9, 12, 0, 0, 0, time.UTC)
	for name, want := range map[string]bool{
		"2023": false, "2024": true, "2025": true, "2024/02": false, "2024/03": true,
		"2024/03/08": false, "2024/03/09": true, "2024/03/10": true, "notes": true,
	} {
		if got := p.MayReach(name, strings.Count(name, "/")+1, from); got != want {
			t.Errorf("MayReach(%q) = %v, want %v", name, got, want)
		}
	}
	p = DatePartition{Enabled: true, Sequence: "DDMMYYYY", Delimiter: "SLASH"}
	for name, want := range map[string]bool{"01": true, "31": true, "01/02": true, "01/02/2024": false, "09/03/2024": true, "08/03/2024": false} {
		if got := p.MayReach(name, strings.Count(name, "/")+1, from); got != want {
			t.Errorf("DDMMYYYY MayReach(%q) = %v, want %v", name, got, want)
		}
	}
	p = DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "DASH"}
	if p.MayReach("2024-03-08", 1, from) || !p.MayReach("2024-03-09", 1, from) {
		t.Error("DASH folders not compared by date")
	}
}

// TestLocalTimeWhereClocksGoBack: in Europe/Paris 02:30 happens twice on
// 27 October 2024 (CEST, then CET). The object's LastModified tells which.
func TestLocalTimeWhereClocksGoBack(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	p := DatePartition{Enabled: true, Zone: paris}
	first := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC)  // 02:30 CEST
	second := time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC) // 02:30 CET
	for _, c := range []struct {
		modified, want time.Time
	}{
		{first.Add(time.Minute), first},
		{second.Add(time.Minute), second},
		{time.Time{}, first},
	} {
		if got := p.LocalTime(2024, 10, 27, 2, 30, 0, 0, c.modified); !got.Equal(c.want) {
			t.Errorf("02:30 stored at %v read as %v, want %v", c.modified, got.UTC(), c.want)
		}
	}
	if got := p.LocalTime(2024, 7, 1, 12, 0, 0, 0, time.Time{}); !got.Equal(time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("summer noon in Paris = %v", got.UTC())
	}
}
