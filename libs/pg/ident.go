package pg

import (
	"fmt"
	"regexp"
	"strings"
)

var plainIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckIdent accepts only plain identifiers (letters, digits, underscore,
// not starting with a digit, at most 63 bytes). Names that arrive from
// outside — an S3 key's schema and table, a Kafka topic — pass through
// here before they are quoted into SQL.
func CheckIdent(s string) error {
	if len(s) > 63 {
		return fmt.Errorf("identifier %q is longer than 63 bytes", s)
	}
	if !plainIdent.MatchString(s) {
		return fmt.Errorf("identifier %q is not plain (want letters, digits and _, not starting with a digit)", s)
	}
	return nil
}

// QuoteIdent quotes s as a PostgreSQL identifier, doubling inner quotes.
// NUL cannot appear in an identifier and is dropped.
func QuoteIdent(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QualifiedName is schema.name, both quoted.
func QualifiedName(schema, name string) string {
	return QuoteIdent(schema) + "." + QuoteIdent(name)
}

// QuoteIdents quotes each name and joins them with commas, for column lists.
func QuoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}
