package target

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"tributary.dev/services/s3-loader/internal/dms"
	"tributary.dev/services/s3-loader/internal/source"
)

// role is what a field of a DMS file holds.
type role int

const (
	roleData   role = iota // a column of the table
	roleOp                 // Op: I, U or D
	roleTime               // the TimestampColumnName column
	roleBefore             // a before-image key column (add-before-image-columns)
)

type field struct {
	role   role
	name   string // as DMS names it (header, or expected name)
	column string // the table column it fills ("" when none)
	key    int    // roleBefore: which key column
}

// plan is how one file's fields reach the table, decided from the
// endpoint's declared settings, the table and, with AddColumnName, the
// file's header.
type plan struct {
	fields      []field
	in          io.Reader    // the data lines (after the header)
	filter      *fieldFilter // rewrites them for COPY when it cannot take them as they are
	headerLines int64
	headerBytes int64
	copyCols    []string // the columns COPY fills, in file order (stage columns for CDC)
	dataCols    []string // table columns the file carries, in file order
	hasOp       bool
	before      []string // CDC: stage columns of the before-image key, in key order
	noSup       []string // CDC: data columns, in the order of the not-supplied mask
}

const (
	beforePrefix = "s3l_before_"
	maskColumn   = "s3l_nosup"
)

// expected lists the fields a file of this kind holds without a header,
// in the order DMS writes them: Op (when the settings add it), the
// timestamp column (first after Op, where DMS puts it), the table's
// columns in order, then the before-image key columns that the
// add-before-image-columns rule appends.
func expected(s dms.Settings, kind source.Kind, tb *Table) []field {
	var fs []field
	if (kind == source.Load && s.LoadHasOp()) || (kind == source.CDC && s.CDCHasOp()) {
		fs = append(fs, field{role: roleOp, name: "Op"})
	}
	if s.TimestampColumnName != "" {
		f := field{role: roleTime, name: s.TimestampColumnName}
		if c, ok := tb.Column(s.TimestampColumnName); ok {
			f.column = c.Name
		}
		fs = append(fs, f)
	}
	for _, c := range tb.Columns {
		if s.TimestampColumnName != "" && strings.EqualFold(c.Name, s.TimestampColumnName) {
			continue // filled from the timestamp field
		}
		if s.BeforeImage() && isBeforeName(s, tb, c.Name) {
			continue // a before-image column the table happens to have
		}
		fs = append(fs, field{role: roleData, name: c.Name, column: c.Name})
	}
	if s.BeforeImage() {
		for i, k := range tb.Key {
			fs = append(fs, field{role: roleBefore, name: s.BeforeImageName(k), key: i})
		}
	}
	return fs
}

func isBeforeName(s dms.Settings, tb *Table, name string) bool {
	for _, k := range tb.Key {
		if strings.EqualFold(name, s.BeforeImageName(k)) {
			return true
		}
	}
	return false
}

// planFile reads the header, when the settings say there is one, and
// works out the plan. With AddColumnName the header is required and
// fields are taken by name (any order, any case); without it the file
// must not start with one, and fields are taken by position.
func planFile(d *Delivery, s dms.Settings, body io.Reader) (*plan, error) {
	br := bufio.NewReaderSize(body, 256<<10)
	first, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, classifyRead(d.File.Key, 1, err)
	}
	exp := expected(s, d.File.Kind, d.Table)
	p := &plan{}
	rest := func() io.Reader { return io.MultiReader(bytes.NewReader(first), br) }
	header, _ := csv.NewReader(bytes.NewReader(first)).Read()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s line 1: %w: %s", d.File.Key, ErrBadInput, fmt.Sprintf(format, args...))
	}
	switch {
	case s.AddColumnName && len(bytes.TrimSpace(first)) == 0:
		if len(first) == 0 {
			// An empty file: no header, no rows.
			p.fields, p.in = exp, rest()
			break
		}
		return nil, bad("no header row, but DMS_ADD_COLUMN_NAME is true")
	case s.AddColumnName:
		if p.fields, err = byName(d, s, exp, header); err != nil {
			return nil, err
		}
		p.in, p.headerLines, p.headerBytes = br, 1, int64(len(first))
	default:
		if looksLikeHeader(header, exp) {
			return nil, bad("the first line is a header row (%s), but DMS_ADD_COLUMN_NAME is false", strings.TrimSpace(string(first)))
		}
		p.fields, p.in = exp, rest()
	}
	if err := p.build(d, s); err != nil {
		return nil, bad("%v", err)
	}
	return p, nil
}

// byName maps header names to fields.
func byName(d *Delivery, s dms.Settings, exp []field, header []string) ([]field, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s line 1: %w: %s", d.File.Key, ErrBadInput, fmt.Sprintf(format, args...))
	}
	byName := map[string]field{}
	for _, f := range exp {
		byName[strings.ToLower(f.name)] = f
	}
	named := false
	for _, raw := range header {
		_, known := byName[strings.ToLower(strings.TrimSpace(raw))]
		_, isCol := d.Table.Column(strings.TrimSpace(raw))
		named = named || known || isCol
	}
	if !named {
		return nil, bad("no header row, but DMS_ADD_COLUMN_NAME is true")
	}
	var fs []field
	seen := map[string]bool{}
	for i, raw := range header {
		name := strings.TrimSpace(raw)
		f, ok := byName[strings.ToLower(name)]
		if !ok {
			if _, isCol := d.Table.Column(name); !isCol {
				if strings.EqualFold(name, "Op") {
					return nil, bad("header column %d is Op, but the settings say %s files carry no Op column (DMS_INCLUDE_OP_FOR_FULL_LOAD, DMS_CDC_INSERTS_ONLY)", i+1, d.File.Kind)
				}
				return nil, bad("header column %d %q is not a column of %s", i+1, name, d.Table)
			}
			c, _ := d.Table.Column(name)
			f = field{role: roleData, name: name, column: c.Name}
		}
		if f.role == roleOp && i != 0 {
			return nil, bad("Op is header column %d; DMS writes it first", i+1)
		}
		id := strings.ToLower(f.name)
		if seen[id] {
			return nil, bad("header names column %q twice", name)
		}
		seen[id] = true
		f.name = name
		fs = append(fs, f)
	}
	for _, f := range exp {
		if seen[strings.ToLower(f.name)] {
			continue
		}
		switch f.role {
		case roleOp:
			return nil, bad("no Op column in the header, but the settings say %s files carry one", d.File.Kind)
		case roleTime:
			return nil, bad("no %s column in the header, but DMS_TIMESTAMP_COLUMN_NAME names it", f.name)
		case roleBefore:
			if d.File.Kind == source.CDC {
				return nil, bad("no before-image column %s in the header (DMS_BEFORE_IMAGE_PREFIX/SUFFIX)", f.name)
			}
			continue // a full load has no before-image to carry
		}
		if d.File.Kind == source.CDC && isKey(d.Table, f.column) {
			return nil, bad("the header lacks key column %s, which changes are matched on", f.column)
		}
	}
	return fs, nil
}

// looksLikeHeader reports whether a first line names the fields a file
// holds instead of holding values.
func looksLikeHeader(first []string, exp []field) bool {
	if len(first) != len(exp) {
		return false
	}
	for i, f := range exp {
		if !strings.EqualFold(strings.TrimSpace(first[i]), f.name) {
			return false
		}
	}
	return true
}

func isKey(tb *Table, col string) bool {
	for _, k := range tb.Key {
		if k == col {
			return true
		}
	}
	return false
}

// build works out what COPY reads and fills, and puts a fieldFilter in
// front of COPY when the file holds fields COPY cannot take as they are.
func (p *plan) build(d *Delivery, s dms.Settings) error {
	cdc := d.File.Kind == source.CDC
	marker, noSup := s.NoSupValue()
	noSup = noSup && cdc
	f := &fieldFilter{op: -1, ts: -1, marker: marker, null: s.CsvNullValue}
	filter := noSup
	if cdc {
		f.ops = s.CDCOps()
	} else {
		f.ops = "I"
	}
	if cdc && s.BeforeImage() {
		p.before = make([]string, len(d.Table.Key))
	}
	for i, fd := range p.fields {
		f.names = append(f.names, fd.name)
		keep := true
		switch fd.role {
		case roleOp:
			p.hasOp = true
			if cdc {
				p.copyCols = append(p.copyCols, opColumn)
			} else {
				keep, filter, f.op = false, true, i
			}
		case roleTime:
			f.ts = i
			if fd.column == "" {
				keep, filter = false, true // the table has no such column
			} else {
				p.copyCols = append(p.copyCols, fd.column)
				p.dataCols = append(p.dataCols, fd.column)
			}
		case roleBefore:
			if cdc {
				col := beforePrefix + strconv.Itoa(fd.key)
				p.before[fd.key] = col
				p.copyCols = append(p.copyCols, col)
			} else {
				keep, filter = false, true
			}
		case roleData:
			p.copyCols = append(p.copyCols, fd.column)
			p.dataCols = append(p.dataCols, fd.column)
			if noSup {
				f.nosup = append(f.nosup, i)
				p.noSup = append(p.noSup, fd.column)
			}
		}
		f.keep = append(f.keep, keep)
	}
	if noSup {
		p.copyCols = append(p.copyCols, maskColumn)
	}
	if len(p.dataCols) == 0 {
		return fmt.Errorf("the file fills no column of %s", d.Table)
	}
	if filter {
		p.filter = f
	}
	return nil
}

// stream is what COPY reads: in, through the filter when there is one.
func (p *plan) stream(in io.Reader) io.Reader {
	if p.filter == nil {
		return in
	}
	p.filter.br = bufio.NewReaderSize(in, 256<<10)
	return p.filter
}

// refused is the filter's error for a record it refused, if it did.
func (p *plan) refused() error {
	var le *copyLineError
	if p.filter != nil && errors.As(p.filter.err, &le) {
		return p.filter.err
	}
	return nil
}
