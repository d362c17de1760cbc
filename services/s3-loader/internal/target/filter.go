package target

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
)

// fieldFilter rewrites a CSV stream record by record for COPY where the
// file holds what COPY cannot take as it is: an Op field in a full load
// (IncludeOpForFullLoad), a timestamp column the table lacks
// (TimestampColumnName), before-image key columns in a full load, or the
// "not supplied" marker of change rows (CsvNoSupValue), which becomes
// NULL plus a mask field saying which columns were not supplied. Files
// without any of these go to COPY untouched, at full speed.
//
// It splits records as RFC 4180 does (DMS's Rfc4180 default): a quoted
// field may hold commas, doubled quotes and line breaks. Every record
// must have width fields; a field it checks must hold what DMS writes
// there. Errors name the line, counted from the first data line, and the
// column.
type fieldFilter struct {
	br     *bufio.Reader
	names  []string // per field, for errors
	keep   []bool   // per field: passed to COPY
	op     int      // field holding Op, checked against ops; -1 none
	ops    string
	ts     int // field holding the DMS timestamp column, checked; -1 none
	nosup  []int
	marker string // CsvNoSupValue
	null   string // what NULL is written as (CsvNullValue)

	line int64 // physical lines read
	rec  []byte
	out  []byte
	err  error
}

// dmsTimestamp is TimestampColumnName's format, yyyy-MM-dd HH:mm:ss.SSSSSS
// (user guide, endpoint settings); the precision may differ by source.
var dmsTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$`)

func (f *fieldFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 && f.err == nil {
		f.err = f.next()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	if len(f.out) == 0 && f.err != nil {
		return n, f.err
	}
	return n, nil
}

// next reads one record and appends what COPY gets of it to out.
func (f *fieldFilter) next() error {
	f.rec = f.rec[:0]
	start := f.line + 1
	quotes := 0
	for {
		chunk, err := f.br.ReadSlice('\n')
		if len(chunk) > 0 {
			f.rec = append(f.rec, chunk...)
			quotes += bytes.Count(chunk, []byte{'"'})
			if chunk[len(chunk)-1] == '\n' {
				f.line++
				if quotes%2 == 0 {
					break
				}
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(f.rec) == 0 {
				return io.EOF
			}
			if quotes%2 != 0 {
				return &copyLineError{line: start, column: f.names[0], msg: "a quoted field is not closed before the end of the file"}
			}
			f.line++
			break
		}
		if err != nil {
			return err
		}
	}
	rec := bytes.TrimSuffix(bytes.TrimSuffix(f.rec, []byte{'\n'}), []byte{'\r'})
	fields := splitCSV(rec)
	if len(fields) != len(f.keep) {
		return &copyLineError{line: start, column: f.names[min(len(fields), len(f.names))-1],
			msg: fmt.Sprintf("%d fields, want %d (%s)", len(fields), len(f.keep), joinNames(f.names))}
	}
	var mask []byte
	first := true
	for i, raw := range fields {
		switch i {
		case f.op:
			if v := unquote(raw); len(v) != 1 || !bytes.Contains([]byte(f.ops), v) {
				return &copyLineError{line: start, column: "Op", msg: fmt.Sprintf("operation %q is not %s", v, opList(f.ops))}
			}
		case f.ts:
			if v := unquote(raw); !dmsTimestamp.Match(v) {
				return &copyLineError{line: start, column: f.names[i], msg: fmt.Sprintf("%q is not a DMS timestamp (yyyy-MM-dd HH:mm:ss.SSSSSS)", v)}
			}
		}
		if !f.keep[i] {
			continue
		}
		if !first {
			f.out = append(f.out, ',')
		}
		first = false
		if f.isNoSup(i) {
			if string(unquote(raw)) == f.marker {
				f.out = append(f.out, f.null...)
				mask = append(mask, '1')
				continue
			}
			mask = append(mask, '0')
		}
		f.out = append(f.out, raw...)
	}
	if f.nosup != nil {
		f.out = append(f.out, ',')
		f.out = append(f.out, mask...)
	}
	f.out = append(f.out, '\n')
	return nil
}

func (f *fieldFilter) isNoSup(i int) bool {
	for _, j := range f.nosup {
		if i == j {
			return true
		}
	}
	return false
}

// splitCSV splits one record into its raw fields (quotes kept).
func splitCSV(rec []byte) [][]byte {
	var fields [][]byte
	inQuote := false
	start := 0
	for i, c := range rec {
		switch {
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			fields = append(fields, rec[start:i])
			start = i + 1
		}
	}
	return append(fields, rec[start:])
}

// unquote is a field's value: without its quotes, doubled quotes single.
func unquote(raw []byte) []byte {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return bytes.ReplaceAll(raw[1:len(raw)-1], []byte(`""`), []byte(`"`))
	}
	return raw
}

func joinNames(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
	}
	return b.String()
}

// opList spells the allowed operations for errors: "I, U or D".
func opList(ops string) string {
	switch len(ops) {
	case 1:
		return ops
	case 2:
		return ops[:1] + " or " + ops[1:]
	default:
		return ops[:1] + ", " + ops[1:2] + " or " + ops[2:]
	}
}
