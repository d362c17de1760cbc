// Package pyjson prints a flat string map exactly as Python's
// json.dumps(d, sort_keys=True) does, and hashes the result as the original
// event processor does, so that credential_json and credential_hash written
// by this service match the rows the Python pipeline wrote byte for byte and
// the unique index on credential_hash keeps deduplicating across both.
package pyjson

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

const hexDigits = "0123456789abcdef"

// Dumps returns json.dumps(attrs, sort_keys=True) with Python's defaults:
// separators ", " and ": ", ensure_ascii (every non-ASCII code point as
// \uXXXX, astral ones as a UTF-16 surrogate pair) and keys sorted by code
// point. Go's string comparison is byte-wise on UTF-8, which orders exactly
// as code points do (unlike UTF-16 order), so sort.Strings is Python's order.
func Dumps(attrs map[string]string) string {
	return dumps(attrs, func(v string) (string, bool) { return v, true })
}

// DumpsNullable is Dumps for a map whose nil values are Python's None,
// printed as null (a source column that was NULL and went into a
// credential unchanged).
func DumpsNullable(attrs map[string]*string) string {
	return dumps(attrs, func(v *string) (string, bool) {
		if v == nil {
			return "", false
		}
		return *v, true
	})
}

func dumps[V any](attrs map[string]V, get func(V) (string, bool)) string {
	keys := make([]string, 0, len(attrs))
	n := 2
	for k := range attrs {
		keys = append(keys, k)
		n += len(k) + 40
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(&b, k)
		b.WriteString(": ")
		if v, ok := get(attrs[k]); ok {
			writeString(&b, v)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return b.String()
}

// writeString is Python's py_encode_basestring_ascii. Invalid UTF-8 cannot
// come from PostgreSQL text; it is written as U+FFFD (what Go's decoder
// yields) so the output is still valid JSON.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	// The common case, printable ASCII with nothing to escape, in one
	// write.
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			writeU(b, uint16(r))
		case r < 0x7f:
			// Printable ASCII goes through as it is, '/' included.
			// Python's ESCAPE_ASCII is [^\ -~], so DEL (0x7f) is escaped.
			b.WriteByte(byte(r))
		case r < 0x10000:
			writeU(b, uint16(r))
		default:
			r -= 0x10000
			writeU(b, uint16(0xd800|(r>>10)&0x3ff))
			writeU(b, uint16(0xdc00|r&0x3ff))
		}
	}
	b.WriteByte('"')
}

func writeU(b *strings.Builder, u uint16) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[u>>12])
	b.WriteByte(hexDigits[u>>8&0xf])
	b.WriteByte(hexDigits[u>>4&0xf])
	b.WriteByte(hexDigits[u&0xf])
}

// Hash is the credential_hash of a credential_json: the lowercase hex
// SHA-256 of its UTF-8 bytes (all ASCII, since Dumps escapes the rest).
func Hash(json string) string {
	sum := sha256.Sum256([]byte(json))
	return hex.EncodeToString(sum[:])
}

// Quote writes s as Python's json.dumps writes a string (ensure_ascii).
func Quote(b *strings.Builder, s string) { writeString(b, s) }
