package txdoc

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"tributary.dev/libs/hederapb"
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

// appendAccount appends an account id as a JSON string, or null. An
// account named by alias prints as shard.realm.<alias hex>: records name
// accounts by number, so this is only for transfers a body wrote by alias.
func appendAccount(dst []byte, a *hederapb.AccountID) []byte {
	if a == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	if alias, ok := a.GetAccount().(*hederapb.AccountID_Alias); ok {
		dst = appendEntity(dst, a.GetShardNum(), a.GetRealmNum(), 0)
		dst = dst[:len(dst)-1]
		dst = appendHex(dst, alias.Alias)
	} else {
		dst = appendEntity(dst, a.GetShardNum(), a.GetRealmNum(), a.GetAccountNum())
	}
	return append(dst, '"')
}

// appendContract is appendAccount for contracts (EVM address in hex).
func appendContract(dst []byte, c *hederapb.ContractID) []byte {
	if c == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	if evm, ok := c.GetContract().(*hederapb.ContractID_EvmAddress); ok {
		dst = appendEntity(dst, c.GetShardNum(), c.GetRealmNum(), 0)
		dst = dst[:len(dst)-1]
		dst = appendHex(dst, evm.EvmAddress)
	} else {
		dst = appendEntity(dst, c.GetShardNum(), c.GetRealmNum(), c.GetContractNum())
	}
	return append(dst, '"')
}

func appendQuotedEntity(dst []byte, shard, realm, num int64) []byte {
	dst = append(dst, '"')
	dst = appendEntity(dst, shard, realm, num)
	return append(dst, '"')
}

func appendToken(dst []byte, t *hederapb.TokenID) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	return appendQuotedEntity(dst, t.GetShardNum(), t.GetRealmNum(), t.GetTokenNum())
}

func appendTopic(dst []byte, t *hederapb.TopicID) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	return appendQuotedEntity(dst, t.GetShardNum(), t.GetRealmNum(), t.GetTopicNum())
}

func appendFile(dst []byte, f *hederapb.FileID) []byte {
	if f == nil {
		return append(dst, "null"...)
	}
	return appendQuotedEntity(dst, f.GetShardNum(), f.GetRealmNum(), f.GetFileNum())
}

func appendSchedule(dst []byte, s *hederapb.ScheduleID) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendQuotedEntity(dst, s.GetShardNum(), s.GetRealmNum(), s.GetScheduleNum())
}

// FormatEntity formats an id as "shard.realm.num", as documents print ids.
func FormatEntity(shard, realm, num int64) string {
	var b [64]byte
	return string(appendEntity(b[:0], shard, realm, num))
}
