package config

import (
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
)

// DSN is a PostgreSQL connection string, libpq key=value (the originals'
// TARGET) or a postgres:// URL. It is validated when decoded and prints
// with its password redacted; Value returns it for pgx.
type DSN struct{ raw string }

// Decode implements envconfig.Decoder.
func (d *DSN) Decode(v string) error {
	if v == "" {
		*d = DSN{}
		return nil
	}
	if _, err := pgconn.ParseConfig(v); err != nil {
		// pgconn's error quotes the input: redact before it reaches a log.
		return fmt.Errorf("not a PostgreSQL connection string: %s", redactPasswords(err.Error(), v))
	}
	d.raw = v
	return nil
}

// ParseDSN is Decode for callers outside envconfig.
func ParseDSN(v string) (DSN, error) {
	var d DSN
	err := d.Decode(v)
	return d, err
}

func (d DSN) Value() string                { return d.raw }
func (d DSN) IsZero() bool                 { return d.raw == "" }
func (d DSN) String() string               { return RedactDSN(d.raw) }
func (d DSN) GoString() string             { return d.String() }
func (d DSN) Format(f fmt.State, _ rune)   { fmt.Fprint(f, d.String()) }
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

var (
	kvPassword  = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)([^@\s]*)(@)`)
)

// RedactDSN hides the password in either DSN form.
func RedactDSN(s string) string {
	s = kvPassword.ReplaceAllString(s, "${1}"+redacted)
	return urlPassword.ReplaceAllString(s, "${1}"+redacted+"${3}")
}

func redactPasswords(msg, dsn string) string {
	msg = RedactDSN(msg)
	if d := RedactDSN(dsn); d != dsn {
		// The raw DSN may appear verbatim in the message.
		msg = regexp.MustCompile(regexp.QuoteMeta(dsn)).ReplaceAllLiteralString(msg, d)
	}
	return msg
}
