package store

import (
	"fmt"
	"strings"
	"time"
)

// EscapeTopic makes a topic name safe as one S3 key segment: bytes other
// than [A-Za-z0-9_-] become %XX, so "." (and "..") cannot form relative
// segments and nothing can add a "/". The mapping is reversible.
func EscapeTopic(topic string) string {
	var b strings.Builder
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%00empty"
	}
	return b.String()
}

// ObjectKey is where STORE_MODE=object keeps a message: by topic, then
// date of the message timestamp, then id (the original's layout).
func ObjectKey(root, topic string, ts time.Time, id UUID) string {
	return join(root, EscapeTopic(topic), ts.UTC().Format("2006/01/02"), id.String()+".bson")
}

// SegmentKey is where STORE_MODE=segment keeps a run of documents from one
// partition: offsets in the name make it unique and sortable.
func SegmentKey(root, topic string, partition int, first, last int64) string {
	return join(root, EscapeTopic(topic), fmt.Sprintf("p%05d", partition), fmt.Sprintf("%020d-%020d.bson", first, last))
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
