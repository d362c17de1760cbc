// Package store turns Kafka messages into the archive's BSON documents and
// keeps them in S3: one object per message (STORE_MODE=object, the
// original's layout) or many documents appended into one segment object
// per topic-partition (STORE_MODE=segment).
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// IDHeader is the header that carries a message's 16-byte UUID.
const (
	IDHeader         = "_id"
	OriginalIDHeader = "_original_id"
)

// Header is a Kafka header; keys and values are bytes, kept as sent.
type Header struct {
	Key   []byte `bson:"key"`
	Value []byte `bson:"value"`
}

// Record is one archived message, as stored in BSON. Keys, values and
// header keys are binary so that anything a producer sent — non-UTF-8
// included — comes back byte for byte.
type Record struct {
	Message     []byte   `bson:"message"`
	Key         []byte   `bson:"key"`
	Topic       string   `bson:"topic"`
	Partition   int32    `bson:"partition"`
	Offset      int64    `bson:"offset"`
	TimestampMS int64    `bson:"timestamp"`
	Headers     []Header `bson:"headers"`
}

// UUID is the message's id (the value of its _id header).
type UUID [16]byte

func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ParseUUID reads the canonical 36-character form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID", s)
	}
	if _, err := hex.Decode(u[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:36])); err != nil {
		return u, fmt.Errorf("%q is not a UUID", s)
	}
	return u, nil
}

// ProducerID is the id the producer sent: the first _id header, when it
// holds 16 bytes. Settle settles the id of a message without one.
func ProducerID(m kafka.Message) (UUID, bool) {
	for _, h := range m.Headers {
		if h.Key == IDHeader {
			if len(h.Value) != 16 {
				return UUID{}, false
			}
			return UUID(h.Value), true
		}
	}
	return UUID{}, false
}

// Odd is what was unusual about a message's _id headers, for metrics.
type Odd uint8

const (
	OddMalformed Odd = 1 << iota // an _id that is not 16 bytes: replaced, kept as _original_id
	OddZero                      // an all-zero _id: kept, but it names no message
	OddExtra                     // more than one _id: the later ones kept as _original_id
)

// Settled is a consumed message made ready for the archive.
type Settled struct {
	Record Record
	ID     UUID
	// Own: the producer sent ID (rather than it being derived).
	Own bool
	// Payload is PayloadSum of the value: with Own, what makes a second
	// message with the same _id the same message.
	Payload [32]byte
	Odd     Odd
}

// PayloadSum is the SHA-256 of a message value; a null value (a
// tombstone) is 32 zero bytes, so it differs from an empty one.
func PayloadSum(value []byte, tombstone bool) [32]byte {
	if tombstone {
		return [32]byte{}
	}
	return sha256.Sum256(value)
}

// FromMessage is Settle for a message whose value is not a tombstone.
func FromMessage(m kafka.Message) (Record, UUID) {
	s := Settle(m, false)
	return s.Record, s.ID
}

// Settle builds the record for a consumed message and settles its id: a
// valid 16-byte _id header is kept; a missing one is added; a malformed
// one is replaced and kept as _original_id, and so is every _id after the
// first, so a stored (and restored) message carries exactly one _id.
// Every other header is kept in order, duplicates included. A generated id
// has the UUIDv4 layout, its random bits taken from a hash of where and
// what the message is, so a redelivery of the same message gets the same
// id.
//
// kafka-go hands over an empty value and a null one alike (nil):
// tombstone says which it was (the archiver asks the broker), and a
// tombstone is stored as null. Its timestamp is kept as sent: kafka-go
// reports every timestamp ≤ 0 as none, stored as NoTimestamp.
func Settle(m kafka.Message, tombstone bool) Settled {
	value := nonNil(m.Value)
	if tombstone {
		value = nil
	}
	r := Record{
		Message:     value,
		Key:         m.Key,
		Topic:       m.Topic,
		Partition:   int32(m.Partition),
		Offset:      m.Offset,
		TimestampMS: RawTimestamp(m.Time),
		Headers:     make([]Header, 0, len(m.Headers)+1),
	}
	valueSum := sha256.Sum256(m.Value)
	s := Settled{Payload: valueSum}
	if tombstone {
		s.Payload = PayloadSum(nil, true)
	}
	s.ID, s.Own = ProducerID(m)
	if !s.Own {
		s.ID = derivedID(m, valueSum)
	}
	if s.Own && s.ID == (UUID{}) {
		s.Odd |= OddZero
	}
	found := false
	for _, h := range m.Headers {
		if h.Key == IDHeader && !found {
			found = true
			r.Headers = append(r.Headers, Header{Key: []byte(IDHeader), Value: s.ID[:]})
			if !s.Own { // malformed: replaced, and kept beside
				s.Odd |= OddMalformed
				r.Headers = append(r.Headers, Header{Key: []byte(OriginalIDHeader), Value: nonNil(h.Value)})
			}
			continue
		}
		if h.Key == IDHeader {
			s.Odd |= OddExtra
			r.Headers = append(r.Headers, Header{Key: []byte(OriginalIDHeader), Value: nonNil(h.Value)})
			continue
		}
		r.Headers = append(r.Headers, Header{Key: []byte(h.Key), Value: nonNil(h.Value)})
	}
	if !found {
		r.Headers = append(r.Headers, Header{Key: []byte(IDHeader), Value: s.ID[:]})
	}
	s.Record = r
	return s
}

// NoTimestamp is the stored timestamp of a message kafka-go reports
// without one (Kafka's -1).
const NoTimestamp = -1

// RawTimestamp is a consumed message's timestamp in milliseconds as the
// producer set it, whatever its range (nanoseconds sent as milliseconds,
// year 10000): it is stored as is.
func RawTimestamp(t time.Time) int64 {
	if t.IsZero() {
		return NoTimestamp
	}
	return t.UnixMilli()
}

// MaxIndexTime is the latest time the index (and an object key's date
// folders) holds; a later timestamp is indexed as this.
var MaxIndexTime = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)

// IndexTime is the time a stored timestamp is indexed and filed under:
// the raw milliseconds clamped to 1970-01-01 … 9999-12-31, so that a
// timestamp in nanoseconds or a negative one is archived like any other
// message instead of failing the index insert over and over.
func IndexTime(ms int64) time.Time {
	switch {
	case ms < 0:
		return time.UnixMilli(0).UTC()
	case ms > MaxIndexTime.UnixMilli():
		return MaxIndexTime
	}
	return time.UnixMilli(ms).UTC()
}

// derivedID hashes topic, NUL, partition, offset, timestamp (big-endian
// 64-bit each) and the payload's SHA-256. The input is laid out in one
// buffer on the stack rather than streamed through a hash.Hash, which
// allocated twice per message; the bytes hashed, and so every id, are
// the same (a test pins two). The timestamp is kafka-go's as it always
// was (the zero time for none), not the stored raw one.
func derivedID(m kafka.Message, valueSum [32]byte) UUID {
	var in [128]byte
	b := append(in[:0], m.Topic...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time.UnixMilli()))
	b = append(b, valueSum[:]...)
	sum := sha256.Sum256(b)
	var id UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Marshal encodes the record as one BSON document, byte for byte what
// bson.Marshal makes of it (the tests hold it to that), but written
// straight into one buffer of the exact size: encoding is most of the
// archiver's own CPU, and the reflecting encoder spends it three times
// over on a record whose shape never changes.
func (r *Record) Marshal() ([]byte, error) {
	doc := make([]byte, 0, r.encodedSize())
	start, doc := bsoncore.AppendDocumentStart(doc)
	doc = appendBytes(doc, "message", r.Message)
	doc = appendBytes(doc, "key", r.Key)
	doc = bsoncore.AppendStringElement(doc, "topic", r.Topic)
	doc = bsoncore.AppendInt32Element(doc, "partition", r.Partition)
	doc = bsoncore.AppendInt64Element(doc, "offset", r.Offset)
	doc = bsoncore.AppendInt64Element(doc, "timestamp", r.TimestampMS)
	if r.Headers == nil {
		doc = bsoncore.AppendNullElement(doc, "headers")
	} else {
		var arr int32
		arr, doc = bsoncore.AppendArrayElementStart(doc, "headers")
		for i, h := range r.Headers {
			var hd int32
			hd, doc = bsoncore.AppendDocumentElementStart(doc, strconv.Itoa(i))
			doc = appendBytes(doc, "key", h.Key)
			doc = appendBytes(doc, "value", h.Value)
			doc = endDocument(doc, hd)
		}
		doc = endDocument(doc, arr)
	}
	doc = endDocument(doc, start)
	if len(doc) > maxDocument {
		return nil, fmt.Errorf("document of %d bytes is over BSON's limit of %d", len(doc), maxDocument)
	}
	return doc, nil
}

// endDocument closes the document or array opened at start. It cannot
// fail: bsoncore errs only on a start index outside dst, and ours come
// from the same appends.
func endDocument(dst []byte, start int32) []byte {
	dst, _ = bsoncore.AppendDocumentEnd(dst, start)
	return dst
}

// binaryGeneric is BSON's binary subtype 0, what bson.Marshal gives []byte.
const binaryGeneric = 0x00

// maxDocument is the most a BSON length (an int32) can say; bson.Marshal
// refuses more too.
const maxDocument = math.MaxInt32

// encodedSize is the length of r's document, so Marshal allocates once.
func (r *Record) encodedSize() int {
	const (
		elem   = 1 + 1 // type byte + key's NUL
		binary = 4 + 1 // length + subtype
		str    = 4 + 1 // length + NUL
		doc    = 4 + 1 // length + terminating NUL
	)
	bytesLen := func(key string, b []byte) int {
		if b == nil {
			return elem + len(key)
		}
		return elem + len(key) + binary + len(b)
	}
	n := doc
	n += bytesLen("message", r.Message) + bytesLen("key", r.Key)
	n += elem + len("topic") + str + len(r.Topic)
	n += elem + len("partition") + 4
	n += elem + len("offset") + 8 + elem + len("timestamp") + 8
	n += elem + len("headers")
	if r.Headers != nil {
		n += doc
		for i, h := range r.Headers {
			n += elem + len(strconv.Itoa(i)) + doc + bytesLen("key", h.Key) + bytesLen("value", h.Value)
		}
	}
	return n
}

// appendBytes appends b as generic binary, or null when it is nil, as
// bson.Marshal does: a Kafka key that was null stays null.
func appendBytes(dst []byte, key string, b []byte) []byte {
	if b == nil {
		return bsoncore.AppendNullElement(dst, key)
	}
	return bsoncore.AppendBinaryElement(dst, key, binaryGeneric, b)
}

// Unmarshal decodes one BSON document.
func Unmarshal(doc []byte) (Record, error) {
	var r Record
	if err := bson.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("decode archived document: %w", err)
	}
	return r, nil
}

// ID returns the record's _id header.
func (r *Record) ID() (UUID, bool) {
	for _, h := range r.Headers {
		if string(h.Key) == IDHeader && len(h.Value) == 16 {
			var u UUID
			copy(u[:], h.Value)
			return u, true
		}
	}
	return UUID{}, false
}

// Time is the message timestamp as indexed: IndexTime of the raw one.
func (r *Record) Time() time.Time { return IndexTime(r.TimestampMS) }

// Tombstone reports whether the message's value is null.
func (r *Record) Tombstone() bool { return r.Message == nil }

// Sendable timestamps: kafka-go writes a message's time as its UnixNano
// over 1e6, so only times UnixNano can hold (1678 … 2262) reach Kafka as
// they were.
var (
	minSendable = time.Unix(0, math.MinInt64).UnixMilli() + 1
	maxSendable = time.Unix(0, math.MaxInt64).UnixMilli()
)

// Kafka turns the record back into a message for restore: same key,
// value (a tombstone stays null), headers (in order, duplicates kept) and
// timestamp. sent is false when the Kafka client cannot write the stored
// timestamp; the message then carries the nearest one it can.
func (r *Record) Kafka(topic string) (m kafka.Message, sent bool) {
	hs := make([]kafka.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = kafka.Header{Key: string(h.Key), Value: h.Value}
	}
	ms := min(max(r.TimestampMS, minSendable), maxSendable)
	return kafka.Message{Topic: topic, Key: r.Key, Value: r.Message, Headers: hs, Time: time.UnixMilli(ms)}, ms == r.TimestampMS
}

// SplitDocuments cuts a segment into its BSON documents (each starts with
// its little-endian int32 length).
func SplitDocuments(seg []byte) ([][]byte, error) {
	var docs [][]byte
	for len(seg) > 0 {
		if len(seg) < 5 {
			return nil, fmt.Errorf("truncated document: %d bytes left", len(seg))
		}
		n := int(binary.LittleEndian.Uint32(seg))
		if n < 5 || n > len(seg) {
			return nil, fmt.Errorf("bad document length %d with %d bytes left", n, len(seg))
		}
		docs = append(docs, seg[:n])
		seg = seg[n:]
	}
	return docs, nil
}

// SameHeaders compares header lists in order.
func SameHeaders(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
