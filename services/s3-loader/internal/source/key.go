// Package source finds AWS DMS delivery files in S3 and reads them in
// delivery order: per table, full-load files first, then CDC files by the
// timestamp in their names.
package source

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tributary.dev/libs/pg"
)

// Kind tells full-load files from change files.
type Kind string

const (
	Load Kind = "load" // LOAD00000001.csv[.gz]: rows, no Op column
	CDC  Kind = "cdc"  // 20240101-120000123.csv[.gz]: Op, then rows
)

// File is one DMS output file: one delivery.
type File struct {
	Key    string
	Size   int64
	Schema string // as in the key, checked to be a plain identifier
	Table  string
	Kind   Kind
	Seq    int       // LOAD file number
	Time   time.Time // CDC file time (UTC)
	Gzip   bool
}

var (
	loadName = regexp.MustCompile(`^LOAD(\d{8})\.csv(\.gz)?$`)
	cdcName  = regexp.MustCompile(`^(\d{8}-\d{9})\.csv(\.gz)?$`)
	datePath = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}$`)
)

// cdcLayout is DMS's timestamp in CDC file names: yyyymmdd-hhmmssfff.
const cdcLayout = "20060102-150405.000"

// ParseKey reads schema, table, kind and order from a key below root
// ("<root>/<schema>/<table>/LOAD00000001.csv.gz" or
// "<root>/<schema>/<table>/[YYYY/MM/DD/]20240101-120000123.csv"). Keys
// come from outside: schema and table must be plain identifiers before
// they go anywhere near SQL.
func ParseKey(root, key string) (File, error) {
	rel := key
	if root != "" {
		var ok bool
		rel, ok = strings.CutPrefix(key, root+"/")
		if !ok {
			return File{}, fmt.Errorf("key %q is not below %q", key, root)
		}
	}
	parts := strings.Split(rel, "/")
	if len(parts) != 3 && len(parts) != 6 {
		return File{}, fmt.Errorf("key %q: want <schema>/<table>/<file> or <schema>/<table>/YYYY/MM/DD/<file>", key)
	}
	f := File{Key: key, Schema: parts[0], Table: parts[1]}
	if err := pg.CheckIdent(f.Schema); err != nil {
		return File{}, fmt.Errorf("key %q: schema: %w", key, err)
	}
	if err := pg.CheckIdent(f.Table); err != nil {
		return File{}, fmt.Errorf("key %q: table: %w", key, err)
	}
	name := parts[len(parts)-1]
	if m := loadName.FindStringSubmatch(name); m != nil && len(parts) == 3 {
		// Atoi, not Sscan: Sscan reads the leading zeros as octal.
		f.Seq, _ = strconv.Atoi(m[1])
		f.Kind, f.Gzip = Load, m[2] != ""
		return f, nil
	}
	m := cdcName.FindStringSubmatch(name)
	if m == nil {
		return File{}, fmt.Errorf("key %q: %q is neither LOADnnnnnnnn.csv[.gz] nor yyyymmdd-hhmmssfff.csv[.gz]", key, name)
	}
	ts := m[1][:15] + "." + m[1][15:]
	t, err := time.Parse(cdcLayout, ts)
	if err != nil {
		return File{}, fmt.Errorf("key %q: bad timestamp %q: %w", key, m[1], err)
	}
	if len(parts) == 6 {
		dir := strings.Join(parts[2:5], "/")
		if !datePath.MatchString(dir) || dir != t.Format("2006/01/02") {
			return File{}, fmt.Errorf("key %q: date folder %q does not match the file's date", key, dir)
		}
	}
	f.Kind, f.Time, f.Gzip = CDC, t.UTC(), m[2] != ""
	return f, nil
}

// Before orders files of one table in delivery order: every full-load
// file (by number) before any CDC file (by time, then key).
func Before(a, b File) bool {
	if a.Kind != b.Kind {
		return a.Kind == Load
	}
	if a.Kind == Load {
		return a.Seq < b.Seq
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.Key < b.Key
}

// cdcStartAfter is a synthetic StartAfter key that sorts just before every
// CDC file of the table stamped at or after t, in the layout of an
// already-seen key (flat or date folders).
func cdcStartAfter(tablePrefix string, t time.Time, dated bool) string {
	stamp := strings.Replace(t.UTC().Format(cdcLayout), ".", "", 1)
	if dated {
		return tablePrefix + t.UTC().Format("2006/01/02/") + stamp
	}
	return tablePrefix + stamp
}
