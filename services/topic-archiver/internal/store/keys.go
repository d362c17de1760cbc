package store

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
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

// Variant names a document or segment stored under another key because
// its usual key already held different bytes — a reused _id, or a segment
// of the same offsets from a topic since created again: the first 8 bytes
// of the object's SHA-256, in hex.
func Variant(sum []byte) string { return hex.EncodeToString(sum[:8]) }

// VariantObjectKey is ObjectKey with a variant: <uuid>-<variant>.bson.
func VariantObjectKey(root, topic string, ts time.Time, id UUID, variant string) string {
	return join(root, EscapeTopic(topic), ts.UTC().Format("2006/01/02"), id.String()+"-"+variant+".bson")
}

// VariantSegmentKey is SegmentKey with a variant: <first>-<last>-<variant>.bson.
func VariantSegmentKey(root, topic string, partition int, first, last int64, variant string) string {
	return join(root, EscapeTopic(topic), fmt.Sprintf("p%05d", partition), fmt.Sprintf("%020d-%020d-%s.bson", first, last, variant))
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

// UnescapeTopic reverses EscapeTopic. Only the canonical form is
// accepted — upper-case hex, and escapes only where EscapeTopic makes
// them — so one topic has exactly one key segment.
func UnescapeTopic(s string) (string, error) {
	if s == "%00empty" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("topic segment %q: %% at %d without two hex digits", s, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("topic segment %q: bad escape %q", s, s[i:i+3])
		}
		b.WriteByte(byte(v))
		i += 2
	}
	topic := b.String()
	if EscapeTopic(topic) != s {
		return "", fmt.Errorf("topic segment %q is not in the form the archiver writes", s)
	}
	return topic, nil
}

// Key is what an archive object's key says: the topic, and either the
// day and id of one message (STORE_MODE=object) or the partition and
// offsets of a segment.
type Key struct {
	Topic string
	// Segment is set for SegmentKey's layout; Partition, First and Last
	// are then the segment's. Otherwise Day and UUID are the message's.
	Segment     bool
	Partition   int
	First, Last int64
	Day         time.Time
	UUID        UUID
	// Variant is set for a key written beside a different object that
	// had taken the usual one (VariantObjectKey, VariantSegmentKey).
	Variant string
}

var (
	segmentPart = regexp.MustCompile(`^p([0-9]{5,})$`)
	segmentName = regexp.MustCompile(`^([0-9]{20})-([0-9]{20})(?:-([0-9a-f]{16}))?\.bson$`)
	objectName  = regexp.MustCompile(`^(.{36})(?:-([0-9a-f]{16}))?\.bson$`)
)

// ParseKey reads a key that ObjectKey or SegmentKey made under root back
// into its parts, and refuses anything else: the archive's own objects
// are told from whatever else shares the bucket by their keys.
func ParseKey(root, key string) (Key, error) {
	rest := key
	if root = strings.Trim(root, "/"); root != "" {
		var ok bool
		if rest, ok = strings.CutPrefix(key, root+"/"); !ok {
			return Key{}, fmt.Errorf("key %q: not under %q", key, root)
		}
	}
	parts := strings.Split(rest, "/")
	bad := func(why string, args ...any) (Key, error) {
		return Key{}, fmt.Errorf("key %q: %s", key, fmt.Sprintf(why, args...))
	}
	if len(parts) < 1 {
		return bad("empty")
	}
	topic, err := UnescapeTopic(parts[0])
	if err != nil {
		return bad("%v", err)
	}
	switch len(parts) {
	case 3: // <topic>/p<partition>/<first>-<last>.bson
		p := segmentPart.FindStringSubmatch(parts[1])
		n := segmentName.FindStringSubmatch(parts[2])
		if p == nil || n == nil {
			return bad("want <topic>/pNNNNN/<first>-<last>.bson")
		}
		k := Key{Topic: topic, Segment: true}
		if k.Partition, err = strconv.Atoi(p[1]); err != nil {
			return bad("partition: %v", err)
		}
		if k.First, err = strconv.ParseInt(n[1], 10, 64); err != nil {
			return bad("first offset: %v", err)
		}
		if k.Last, err = strconv.ParseInt(n[2], 10, 64); err != nil {
			return bad("last offset: %v", err)
		}
		if k.First > k.Last {
			return bad("first offset %d after last %d", k.First, k.Last)
		}
		k.Variant = n[3]
		want := SegmentKey(root, topic, k.Partition, k.First, k.Last)
		if k.Variant != "" {
			want = VariantSegmentKey(root, topic, k.Partition, k.First, k.Last, k.Variant)
		}
		if want != key {
			return bad("not in the form the archiver writes")
		}
		return k, nil
	case 5: // <topic>/<YYYY>/<MM>/<DD>/<uuid>.bson
		day, err := time.Parse("2006/01/02", strings.Join(parts[1:4], "/"))
		if err != nil {
			return bad("date: %v", err)
		}
		name := objectName.FindStringSubmatch(parts[4])
		if name == nil {
			return bad("want <uuid>.bson, got %q", parts[4])
		}
		id, err := ParseUUID(name[1])
		if err != nil {
			return bad("%v", err)
		}
		want := ObjectKey(root, topic, day, id)
		if name[2] != "" {
			want = VariantObjectKey(root, topic, day, id, name[2])
		}
		if want != key {
			return bad("not in the form the archiver writes")
		}
		return Key{Topic: topic, Day: day, UUID: id, Variant: name[2]}, nil
	}
	return bad("want <topic>/<YYYY>/<MM>/<DD>/<uuid>.bson or <topic>/pNNNNN/<first>-<last>.bson")
}
