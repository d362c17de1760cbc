package recordstream

import (
	"crypto/sha512"
	"encoding/binary"
	"hash"
)

// HashSize is the length of every hash in the stream: SHA-384.
const HashSize = sha512.Size384

// Class ids and versions of the serialised objects of the v5 object stream
// (and of the v5 signature file). v6 files no longer carry them, but the
// running hash is still defined over the v5 serialisation of each item.
const (
	hashClassID       uint64 = 0xf422da83a251741e
	hashClassVersion  int32  = 1
	sha384DigestType  int32  = 0x58ff811b
	itemClassID       uint64 = 0xe370929ba5429d8b
	itemClassVersion  int32  = 1
	sigClassID        uint64 = 0x13dc4b399b245c69
	sigClassVersion   int32  = 1
	sigTypeRSA        int32  = 1
	sigChecksumAddend int32  = 101 // a signature's checksum is 101 - length
)

// runningHash folds items into the stream's running hash as the nodes
// compute it: each step hashes the previous running hash and the item's
// hash, each preceded by the Hash class id and version. Those two prefixes
// are little-endian, unlike everything else in the stream (the platform's
// hash builder writes longs and ints that way), which is why a reader that
// writes them big-endian gets a different hash.
type runningHash struct {
	sum  []byte
	item hash.Hash
	step hash.Hash
	buf  [HashSize]byte
}

func newRunningHash(start []byte) *runningHash {
	r := &runningHash{item: sha512.New384(), step: sha512.New384()}
	r.sum = append(make([]byte, 0, HashSize), start...)
	return r
}

var hashPrefixLE = func() []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint64(b, hashClassID)
	binary.LittleEndian.PutUint32(b[8:], uint32(hashClassVersion))
	return b
}()

// addSerialised folds in one item given as its v5 serialisation (class id,
// version, length-prefixed record, length-prefixed transaction).
func (r *runningHash) addSerialised(obj []byte) {
	r.item.Reset()
	r.item.Write(obj)
	r.fold(r.item.Sum(r.buf[:0]))
}

// add folds in one item given as its raw record and transaction bytes (a
// v6 item), serialising it as v5 does.
func (r *runningHash) add(record, transaction []byte) {
	var hdr [16]byte
	r.item.Reset()
	binary.BigEndian.PutUint64(hdr[:], itemClassID)
	binary.BigEndian.PutUint32(hdr[8:], uint32(itemClassVersion))
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(record)))
	r.item.Write(hdr[:])
	r.item.Write(record)
	binary.BigEndian.PutUint32(hdr[:], uint32(len(transaction)))
	r.item.Write(hdr[:4])
	r.item.Write(transaction)
	r.fold(r.item.Sum(r.buf[:0]))
}

func (r *runningHash) fold(itemHash []byte) {
	r.step.Reset()
	r.step.Write(hashPrefixLE)
	r.step.Write(r.sum)
	r.step.Write(hashPrefixLE)
	r.step.Write(itemHash)
	r.sum = r.step.Sum(r.sum[:0])
}
