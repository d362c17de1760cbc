package txdoc

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Bytes that are not UTF-8 become
// U+FFFD, so the output is valid JSON whatever s holds.
func appendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendASCII appends s, known to need no escaping (names of enum values
// and of our own fields), as a JSON string.
func appendASCII(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendTimestamp appends "seconds.nnnnnnnnn", the mirror node's timestamp
// form, without quotes.
func appendTimestamp(dst []byte, sec int64, nanos int64) []byte {
	if nanos < 0 || nanos >= 1e9 {
		// Not a normalised timestamp (hand-made or damaged record):
		// normalise rather than print a malformed value.
		sec += nanos / 1e9
		nanos %= 1e9
		if nanos < 0 {
			sec--
			nanos += 1e9
		}
	}
	dst = strconv.AppendInt(dst, sec, 10)
	dst = append(dst, '.')
	return appendNanos(dst, nanos)
}

// appendNanos appends 0 <= n < 1e9 as exactly nine digits.
func appendNanos(dst []byte, n int64) []byte {
	var b [9]byte
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[:]...)
}

func splitNs(ns int64) (sec, nanos int64) {
	sec, nanos = ns/1e9, ns%1e9
	if nanos < 0 {
		sec--
		nanos += 1e9
	}
	return sec, nanos
}

// ID formats a consensus time in ns as "seconds.nnnnnnnnn".
func ID(ns int64) string {
	sec, nanos := splitNs(ns)
	var b [32]byte
	return string(appendTimestamp(b[:0], sec, nanos))
}

// appendEntity appends "shard.realm.num" without quotes.
func appendEntity(dst []byte, shard, realm, num int64) []byte {
	dst = strconv.AppendInt(dst, shard, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, realm, 10)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, num, 10)
}

func appendHex(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// FormatEntity formats an id as "shard.realm.num", as documents print ids.
func FormatEntity(shard, realm, num int64) string {
	var b [64]byte
	return string(appendEntity(b[:0], shard, realm, num))
}

// appendEID appends an id as a JSON string, or null when absent. An id
// given by alias or EVM address prints as shard.realm.<hex>: records name
// accounts and contracts by number, so this is only for ids a body wrote
// that way.
func appendEID(dst []byte, id eid) []byte {
	if !id.set {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	if id.hasAlias {
		dst = strconv.AppendInt(dst, id.shard, 10)
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, id.realm, 10)
		dst = append(dst, '.')
		dst = appendHex(dst, id.alias)
	} else {
		dst = appendEntity(dst, id.shard, id.realm, id.num)
	}
	return append(dst, '"')
}
