package target

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestFieldFilter: records are split as RFC 4180 does (quoted commas,
// doubled quotes and line breaks stay in their field), dropped fields go,
// the not-supplied marker becomes NULL with a mask, and a record that
// breaks a rule is refused with its line (physical lines, as COPY counts
// them) and column.
func TestFieldFilter(t *testing.T) {
	newFilter := func(in string) *fieldFilter {
		return &fieldFilter{
			br:     bufio.NewReader(strings.NewReader(in)),
			names:  []string{"Op", "dms_ts", "id", "note"},
			keep:   []bool{true, false, true, true},
			op:     0,
			ops:    "IU",
			ts:     1,
			nosup:  []int{2, 3},
			marker: "@NS@",
			null:   `\N`,
		}
	}
	in := "I,2024-01-01 10:00:00.000000,1,\"a, \"\"quoted\"\"\nline\"\n" +
		"U,2024-01-01 10:00:01.5,2,@NS@\n" +
		"U,2024-01-01 10:00:02,3,\"@NS@\""
	out, err := io.ReadAll(newFilter(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "I,1,\"a, \"\"quoted\"\"\nline\",00\n" +
		"U,2,\\N,01\n" +
		"U,3,\\N,01\n"
	if string(out) != want {
		t.Fatalf("filtered:\n%q\nwant\n%q", out, want)
	}

	for _, c := range []struct {
		in       string
		line     int64
		column   string
		contains string
	}{
		{"I,2024-01-01 10:00:00,1,a\nI,2024-01-01 10:00:00,2\n", 2, "id", "3 fields, want 4"},
		{"I,2024-01-01 10:00:00,1,\"two\nlines\"\nD,2024-01-01 10:00:00,2,b\n", 3, "Op", `operation "D" is not I or U`},
		{"I,yesterday,1,a\n", 1, "dms_ts", `"yesterday" is not a DMS timestamp`},
		{"I,2024-01-01 10:00:00,1,\"open\n", 1, "Op", "not closed"},
	} {
		_, err := io.ReadAll(newFilter(c.in))
		var le *copyLineError
		if !errors.As(err, &le) || le.line != c.line || le.column != c.column || !strings.Contains(le.msg, c.contains) {
			t.Errorf("%q: error %v (line %v, column %v), want line %d column %s: %s", c.in, err, lineOf(le), columnOf(le), c.line, c.column, c.contains)
		}
	}
}

func lineOf(e *copyLineError) any {
	if e == nil {
		return nil
	}
	return e.line
}

func columnOf(e *copyLineError) any {
	if e == nil {
		return nil
	}
	return e.column
}
