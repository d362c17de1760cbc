package target

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"tributary.dev/libs/pg"
)

// ErrUnknownTable is a delivery for a table the operator has not created.
var ErrUnknownTable = errors.New("unknown table")

// Table describes an entity table: its columns in order and its key.
type Table struct {
	Schema, Name string
	Columns      []Column
	Key          []string // primary key columns, in key order
}

// Column is one column of an entity table.
type Column struct {
	Name    string
	Type    string
	Numeric bool
}

// Quoted is schema.name, quoted for SQL.
func (t *Table) Quoted() string { return pg.QualifiedName(t.Schema, t.Name) }

func (t *Table) String() string { return t.Schema + "." + t.Name }

// Column finds a column by name, exactly or else ignoring case (DMS
// headers carry the source's case: ORDER_ID for order_id).
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// Describe reads a table's columns and primary key. Both names must have
// passed pg.CheckIdent; they are still passed as a parameter, not SQL.
func (t *Target) Describe(ctx context.Context, schema, name string) (*Table, error) {
	rows, err := t.pool.Query(ctx, `
		SELECT a.attname,
		       format_type(a.atttypid, a.atttypmod),
		       a.atttypid::regtype::text IN ('smallint','integer','bigint','numeric','real','double precision'),
		       array_position(i.indkey::int2[], a.attnum)
		FROM pg_attribute a
		LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		ORDER BY a.attnum`, pg.QualifiedName(schema, name))
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", schema, name, err)
	}
	tb := &Table{Schema: schema, Name: name}
	keyPos := map[int]string{}
	for rows.Next() {
		var c Column
		var pos *int
		if err := rows.Scan(&c.Name, &c.Type, &c.Numeric, &pos); err != nil {
			return nil, err
		}
		tb.Columns = append(tb.Columns, c)
		if pos != nil {
			keyPos[*pos] = c.Name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", schema, name, err)
	}
	if len(tb.Columns) == 0 {
		return nil, fmt.Errorf("%s.%s: %w (create it first, as the deployment's schema scripts do)", schema, name, ErrUnknownTable)
	}
	// indkey is an int2vector, whose subscripts start at 0: order the key
	// columns by position rather than assuming a base.
	positions := make([]int, 0, len(keyPos))
	for p := range keyPos {
		positions = append(positions, p)
	}
	sort.Ints(positions)
	for _, p := range positions {
		tb.Key = append(tb.Key, keyPos[p])
	}
	return tb, nil
}
