package dms

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DatePartition is the endpoint's date-based folder partitioning (user
// guide, "Using date-based folder partitioning"): change files go into
// folders named by date, in DatePartitionSequence order joined by
// DatePartitionDelimiter, and with DatePartitionTimezone both the folder
// and the CDC file name are in that zone instead of UTC.
type DatePartition struct {
	Enabled   bool
	Sequence  string         // YYYYMMDD (default), YYYYMMDDHH, YYYYMM, MMYYYYDD, DDMMYYYY
	Delimiter string         // SLASH (default), DASH, UNDERSCORE, NONE
	Zone      *time.Location // nil: UTC
}

// Sequences and Delimiters are the values DMS accepts.
var (
	Sequences  = []string{"YYYYMMDD", "YYYYMMDDHH", "YYYYMM", "MMYYYYDD", "DDMMYYYY"}
	Delimiters = map[string]string{"SLASH": "/", "DASH": "-", "UNDERSCORE": "_", "NONE": ""}
)

// part is one date field of a folder name.
type part byte

const (
	year  part = 'Y'
	month part = 'M'
	day   part = 'D'
	hour  part = 'H'
)

func (p DatePartition) parts() []part {
	switch p.Sequence {
	case "YYYYMMDDHH":
		return []part{year, month, day, hour}
	case "YYYYMM":
		return []part{year, month}
	case "MMYYYYDD":
		return []part{month, year, day}
	case "DDMMYYYY":
		return []part{day, month, year}
	default:
		return []part{year, month, day}
	}
}

func (p DatePartition) delim() string { return Delimiters[p.Delimiter] }

func (p DatePartition) validate() error {
	if p.Sequence != "" && !contains(Sequences, p.Sequence) {
		return fmt.Errorf("DMS_DATE_PARTITION_SEQUENCE: want one of %s, got %q", strings.Join(Sequences, ", "), p.Sequence)
	}
	if _, ok := Delimiters[p.Delimiter]; p.Delimiter != "" && !ok {
		return fmt.Errorf("DMS_DATE_PARTITION_DELIMITER: want SLASH, DASH, UNDERSCORE or NONE, got %q", p.Delimiter)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Location is the zone of folder names and dated CDC file names.
func (p DatePartition) Location() *time.Location {
	if p.Zone == nil {
		return time.UTC
	}
	return p.Zone
}

// Folder is the partition folder of instant t, without a trailing slash:
// "2024/01/02" for YYYYMMDD and SLASH.
func (p DatePartition) Folder(t time.Time) string {
	t = t.In(p.Location())
	var fields []string
	for _, x := range p.parts() {
		switch x {
		case year:
			fields = append(fields, fmt.Sprintf("%04d", t.Year()))
		case month:
			fields = append(fields, fmt.Sprintf("%02d", int(t.Month())))
		case day:
			fields = append(fields, fmt.Sprintf("%02d", t.Day()))
		case hour:
			fields = append(fields, fmt.Sprintf("%02d", t.Hour()))
		}
	}
	return strings.Join(fields, p.delim())
}

// Levels is how many path components a folder name spans.
func (p DatePartition) Levels() int {
	if p.delim() == "/" {
		return len(p.parts())
	}
	return 1
}

// ParseFolder reads a folder name (without trailing slash) and returns
// the start of its period in the partition zone.
func (p DatePartition) ParseFolder(s string) (time.Time, bool) {
	parts := p.parts()
	var fields []string
	if d := p.delim(); d != "" {
		fields = strings.Split(s, d)
	} else {
		for _, x := range parts {
			n := 2
			if x == year {
				n = 4
			}
			if len(s) < n {
				return time.Time{}, false
			}
			fields, s = append(fields, s[:n]), s[n:]
		}
		if s != "" {
			return time.Time{}, false
		}
	}
	if len(fields) != len(parts) {
		return time.Time{}, false
	}
	y, mo, d, h := 0, 1, 1, 0
	if !setFields(parts, fields, &y, &mo, &d, &h) {
		return time.Time{}, false
	}
	if mo < 1 || mo > 12 || h > 23 {
		return time.Time{}, false
	}
	if t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC); t.Day() != d {
		return time.Time{}, false // 2024/02/30
	}
	return time.Date(y, time.Month(mo), d, h, 0, 0, 0, p.Location()), true
}

// setFields reads each folder field (four digits for the year, two for
// the rest) into the part it stands for; false if one is not digits.
func setFields(parts []part, fields []string, y, mo, d, h *int) bool {
	for i, f := range fields {
		want := 2
		if parts[i] == year {
			want = 4
		}
		if len(f) != want || !digits(f) {
			return false
		}
		v, _ := strconv.Atoi(f)
		switch parts[i] {
		case year:
			*y = v
		case month:
			*mo = v
		case day:
			*d = v
		case hour:
			*h = v
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Next is the start of the period after the one starting at t.
func (p DatePartition) Next(t time.Time) time.Time {
	t = t.In(p.Location())
	switch p.Sequence {
	case "YYYYMMDDHH":
		return t.Add(time.Hour)
	case "YYYYMM":
		return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, p.Location())
	default:
		return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, p.Location())
	}
}

// Start is the start of the period holding t.
func (p DatePartition) Start(t time.Time) time.Time {
	t = t.In(p.Location())
	switch p.Sequence {
	case "YYYYMMDDHH":
		// The local hour, not the UTC one: zones such as +05:30 start
		// their hours on the half hour.
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, p.Location())
	case "YYYYMM":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, p.Location())
	default:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, p.Location())
	}
}

// Folders lists the folder names of every period from the one holding
// from to the one holding to, each once, oldest first.
func (p DatePartition) Folders(from, to time.Time) []string {
	var out []string
	seen := map[string]bool{}
	for t := p.Start(from); !t.After(to); t = p.Next(t) {
		if f := p.Folder(t); !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if f := p.Folder(to); !seen[f] {
		out = append(out, f)
	}
	return out
}

// LocalTime reads a wall-clock time in the partition zone. Where the
// clocks went back the same wall time happens twice; the object's
// LastModified (when it was stored, so after it was named) picks the
// later reading that is not after it. Without one, the earlier reading.
func (p DatePartition) LocalTime(y int, mo time.Month, d, h, mi, s, ns int, modified time.Time) time.Time {
	loc := p.Location()
	wall := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	var candidates []time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		t := wall.Add(-time.Duration(off) * time.Second)
		lt := t.In(loc)
		if lt.Year() == y && lt.Month() == mo && lt.Day() == d && lt.Hour() == h && lt.Minute() == mi && lt.Second() == s {
			candidates = append(candidates, t)
		}
	}
	switch len(candidates) {
	case 0:
		return time.Date(y, mo, d, h, mi, s, ns, loc) // a wall time the clocks skipped
	case 1:
		return candidates[0]
	}
	if candidates[1].Before(candidates[0]) {
		candidates[0], candidates[1] = candidates[1], candidates[0]
	}
	if !modified.IsZero() && !candidates[1].After(modified.Add(clockSkew)) {
		return candidates[1]
	}
	return candidates[0]
}

// clockSkew is how far DMS's clock may run ahead of the object store's.
const clockSkew = 5 * time.Minute

// MayReach reports whether the folder branch name (the first level
// path components of a folder name: "2024" then "2024/01" with SLASH)
// can hold a period starting at or after from. A name that is not a date
// at all may hold anything, so it is looked into (and its keys reported).
func (p DatePartition) MayReach(name string, level int, from time.Time) bool {
	parts := p.parts()
	var fields []string
	if p.delim() == "/" {
		fields = strings.Split(name, "/")
		if len(fields) != level || level > len(parts) {
			return true
		}
	} else if t, ok := p.ParseFolder(name); ok {
		return !t.Before(p.Start(from))
	} else {
		return true
	}
	y, mo, d, h := 9999, 12, 0, 23 // d 0: the month's last day
	if !setFields(parts, fields, &y, &mo, &d, &h) {
		return true
	}
	if mo < 1 || mo > 12 {
		return true
	}
	last := time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if d == 0 || d > last {
		d = last
	}
	latest := time.Date(y, time.Month(mo), d, h, 0, 0, 0, p.Location())
	return !latest.Before(p.Start(from))
}
