// Package source finds AWS DMS delivery files in S3 and reads them in
// delivery order: per table, full-load files first, then CDC files by the
// timestamp in their names.
package source

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tributary.dev/libs/pg"
	"tributary.dev/services/s3-loader/internal/dms"
)

// Kind tells full-load files from change files.
type Kind string

const (
	Load Kind = "load" // LOAD00000001.csv[.gz]: rows, no Op column (unless IncludeOpForFullLoad)
	CDC  Kind = "cdc"  // 20240101-120000123.csv[.gz]: Op, then rows
)

// File is one DMS output file: one delivery.
type File struct {
	Key      string
	Size     int64
	ETag     string    // as the store lists it: with Size, tells a rewritten file from the one applied
	Modified time.Time // when the store got it
	Schema   string    // as in the key, checked to be a plain identifier
	Table    string
	Kind     Kind
	Seq      int64     // LOAD file number, read as the hexadecimal it is
	Time     time.Time // CDC file time (UTC)
	Dated    bool      // in a date-partition folder
	Folder   time.Time // the start of that folder's period
	Gzip     bool
}

// Version is what identifies this copy of the object: its ETag, or where
// a store gives none, its modification time.
func (f File) Version() string {
	if f.ETag != "" {
		return f.ETag
	}
	return f.Modified.UTC().Format(time.RFC3339Nano)
}

// ErrUnplaceable marks a key under a table folder that is not a file the
// loader knows where to put: its table stops until an operator looks.
var ErrUnplaceable = errors.New("not a DMS delivery file the loader can place")

var (
	// User guide, "Using Amazon S3 as a target": "AWS DMS names files
	// created during a full load using an incremental hexadecimal
	// counter": LOAD00000009, LOAD0000000A … LOAD0000000F, LOAD00000010.
	// Upper case as DMS writes it, so the names also sort in number order.
	loadName = regexp.MustCompile(`^LOAD([0-9A-F]{8})\.csv(\.gz)?$`)
	// CDC files are named by time: "20141029-1134010000.csv" in the
	// guide (four fraction digits), 20240101-120000123.csv (milliseconds)
	// as DMS writes them today; any fraction of 1 to 9 digits is read.
	cdcName = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{1,9})\.csv(\.gz)?$`)
)

// ParseKey reads schema, table, kind and order from a key below root:
// "<root>/<schema>/<table>/LOAD00000001.csv.gz", or a CDC file
// "<root>/<schema>/<table>/[<date folder>/]20240101-120000123.csv" where
// the date folder is the endpoint's DatePartition layout. Keys come from
// outside: schema and table must be plain identifiers before they go
// anywhere near SQL. A key inside a table folder that fits no known name
// is ErrUnplaceable, saying why. modified (the object's LastModified)
// settles the wall time a dated name means where clocks went back.
func ParseKey(root, key string, part dms.DatePartition, modified time.Time) (File, error) {
	rel := key
	if root != "" {
		var ok bool
		rel, ok = strings.CutPrefix(key, root+"/")
		if !ok {
			return File{}, fmt.Errorf("key %q is not below %q", key, root)
		}
	}
	parts := strings.Split(rel, "/")
	if len(parts) < 3 {
		return File{}, fmt.Errorf("key %q: want <schema>/<table>/<file>", key)
	}
	f := File{Key: key, Schema: parts[0], Table: parts[1], Modified: modified}
	if err := pg.CheckIdent(f.Schema); err != nil {
		return File{}, fmt.Errorf("key %q: schema: %w", key, err)
	}
	if err := pg.CheckIdent(f.Table); err != nil {
		return File{}, fmt.Errorf("key %q: table: %w", key, err)
	}
	name := parts[len(parts)-1]
	folder := strings.Join(parts[2:len(parts)-1], "/")
	unplaceable := func(why string, args ...any) (File, error) {
		return File{}, fmt.Errorf("%s: %w: %s", key, ErrUnplaceable, fmt.Sprintf(why, args...))
	}
	switch {
	case strings.HasSuffix(name, ".parquet") || strings.HasSuffix(name, ".parquet.gz"):
		return unplaceable("a Parquet file, but the loader reads the CSV files DMS writes with DataFormat=csv")
	case strings.HasPrefix(name, "SEGMENT") || strings.Contains(name, "LOAD") && !strings.HasPrefix(name, "LOAD"):
		return unplaceable("a parallel-load segment file, which the loader does not order (user guide, \"Parallel load of partitioned sources\")")
	}
	if m := loadName.FindStringSubmatch(name); m != nil {
		if folder != "" {
			return unplaceable("a full-load file in a sub-folder (%q): parallel-load partition folders are not supported", folder)
		}
		f.Seq, _ = strconv.ParseInt(m[1], 16, 64)
		f.Kind, f.Gzip = Load, m[2] != ""
		return f, nil
	}
	if strings.HasPrefix(name, "LOAD") {
		return unplaceable("%q is not LOAD followed by eight upper-case hexadecimal digits and .csv[.gz]", name)
	}
	m := cdcName.FindStringSubmatch(name)
	if m == nil {
		return unplaceable("%q is neither LOADxxxxxxxx.csv[.gz] nor yyyymmdd-hhmmssfff.csv[.gz]", name)
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	frac := m[7]
	ns, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[3] > 23 || n[4] > 59 || n[5] > 59 ||
		time.Date(n[0], time.Month(n[1]), n[2], 0, 0, 0, 0, time.UTC).Day() != n[2] {
		return unplaceable("bad timestamp %q in the name", name)
	}
	f.Kind, f.Gzip = CDC, m[8] != ""
	if folder == "" {
		// Flat CDC names are UTC: DatePartitionTimezone changes them only
		// with date partitioning on (user guide, endpoint settings).
		f.Time = time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], ns, time.UTC)
		return f, nil
	}
	if !part.Enabled {
		return unplaceable("a change file in folder %q, but DMS_DATE_PARTITION_ENABLED is false: declare the endpoint's date partitioning", folder)
	}
	start, ok := part.ParseFolder(folder)
	if !ok {
		return unplaceable("folder %q is not a date folder of DMS_DATE_PARTITION_SEQUENCE=%s, DMS_DATE_PARTITION_DELIMITER=%s", folder, part.Sequence, part.Delimiter)
	}
	f.Dated = true
	f.Time = part.LocalTime(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], ns, modified).UTC()
	// The folder is the commit date of the changes ("Using date-based
	// folder partitioning"), the name the time the file was written: a
	// file may sit in an earlier period's folder (DMS catching up, or a
	// file named just after midnight), never in a later one.
	if start.After(part.Start(f.Time)) {
		return unplaceable("folder %q is later than the file's own time %s (%s): check DMS_DATE_PARTITION_TIMEZONE", folder, f.Time.In(part.Location()).Format(time.RFC3339), part.Location())
	}
	f.Folder = start
	return f, nil
}

// Before orders files of one table in delivery order: every full-load
// file (by number) before any CDC file (by time, then key).
func Before(a, b File) bool {
	if a.Kind != b.Kind {
		return a.Kind == Load
	}
	if a.Kind == Load {
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.Key < b.Key
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.Key < b.Key
}

// LoadName is the key of full-load file number seq (for naming a gap).
func LoadName(seq int64) string { return fmt.Sprintf("LOAD%08X", seq) }

// cdcStamp is a CDC file name's time part for t in loc, for StartAfter
// keys that sort just before every file stamped at or after t.
func cdcStamp(t time.Time, loc *time.Location) string {
	return strings.Replace(t.In(loc).Format("20060102-150405.000"), ".", "", 1)
}
