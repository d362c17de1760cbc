package recordstream

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// The encoders write files in the nodes' layouts, for generated streams
// (benchmarks, the development stack, broken cases in tests): reading what
// they write gives back the same items and hashes, and re-encoding a real
// file's items gives back the node's bytes. They take items' Transaction
// and Record bytes as they are; ConsensusNs is read from the record.

// EncodeV2 writes a v2 record file: HAPI version 3, prevHash, the items.
func EncodeV2(prevHash []byte, items []Item) ([]byte, error) {
	if len(prevHash) != HashSize {
		return nil, fmt.Errorf("encode v2: previous hash of %d bytes, want %d", len(prevHash), HashSize)
	}
	b := make([]byte, 0, 57+itemsSize(items, 9))
	b = binary.BigEndian.AppendUint32(b, 2)
	b = binary.BigEndian.AppendUint32(b, 3)
	b = append(b, 1)
	b = append(b, prevHash...)
	for _, it := range items {
		b = append(b, 2)
		b = appendLengthAndBytes(b, it.Transaction)
		b = appendLengthAndBytes(b, it.Record)
	}
	return b, nil
}

// EncodeV5 writes a v5 record file: the header, the start running hash,
// the items and the end running hash computed from them.
func EncodeV5(hapi HAPIVersion, startHash []byte, items []Item) ([]byte, error) {
	if len(startHash) != HashSize {
		return nil, fmt.Errorf("encode v5: start running hash of %d bytes, want %d", len(startHash), HashSize)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("encode v5: no items (a v5 file has at least one)")
	}
	b := make([]byte, 0, 20+2*68+itemsSize(items, 20))
	b = binary.BigEndian.AppendUint32(b, 5)
	b = appendHAPI(b, hapi)
	b = binary.BigEndian.AppendUint32(b, 1) // object stream version
	b = appendHashObject(b, startHash)
	running := newRunningHash(startHash)
	for _, it := range items {
		at := len(b)
		b = binary.BigEndian.AppendUint64(b, itemClassID)
		b = binary.BigEndian.AppendUint32(b, uint32(itemClassVersion))
		b = appendLengthAndBytes(b, it.Record)
		b = appendLengthAndBytes(b, it.Transaction)
		running.addSerialised(b[at:])
	}
	return appendHashObject(b, running.sum), nil
}

// EncodeV6 writes a v6 record file, not gzipped: int32 6 and the
// RecordStreamFile, its end running hash computed from the items.
func EncodeV6(hapi HAPIVersion, startHash []byte, blockNumber int64, items []Item, sidecars []SidecarMeta) ([]byte, error) {
	if len(startHash) != HashSize {
		return nil, fmt.Errorf("encode v6: start running hash of %d bytes, want %d", len(startHash), HashSize)
	}
	rsf := &hederapb.RecordStreamFile{
		HapiProtoVersion:       &hederapb.SemanticVersion{Major: hapi.Major, Minor: hapi.Minor, Patch: hapi.Patch},
		StartObjectRunningHash: hashObject(startHash),
		BlockNumber:            blockNumber,
	}
	running := newRunningHash(startHash)
	for _, it := range items {
		rsf.RecordStreamItems = append(rsf.RecordStreamItems, &hederapb.RecordStreamItem{Transaction: it.Transaction, Record: it.Record})
		running.add(it.Record, it.Transaction)
	}
	rsf.EndObjectRunningHash = hashObject(running.sum)
	for _, sc := range sidecars {
		rsf.Sidecars = append(rsf.Sidecars, &hederapb.SidecarMetadata{Hash: hashObject(sc.Hash), Id: sc.ID, Types: sc.Types})
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(rsf)
	if err != nil {
		return nil, fmt.Errorf("encode v6: %w", err)
	}
	return append([]byte{0, 0, 0, 6}, body...), nil
}

// Sign makes the signature a node with key would write for f.
func Sign(key *rsa.PrivateKey, f *RecordFile) (*Signature, error) {
	s := &Signature{Name: f.Name, Version: f.Version, FileHash: f.FileHash, MetadataHash: f.MetadataHash}
	var err error
	if s.FileSignature, err = signHash(key, f.FileHash); err != nil {
		return nil, fmt.Errorf("sign %s: %w", f.Name, err)
	}
	if f.Version >= 5 {
		if s.MetadataSignature, err = signHash(key, f.MetadataHash); err != nil {
			return nil, fmt.Errorf("sign %s: %w", f.Name, err)
		}
	}
	return s, nil
}

func signHash(key *rsa.PrivateKey, hash []byte) ([]byte, error) {
	digest := sha512.Sum384(hash)
	return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA384, digest[:])
}

// Encode writes the signature file in its version's layout.
func (s *Signature) Encode() ([]byte, error) {
	switch s.Version {
	case 2:
		b := []byte{4}
		b = append(b, s.FileHash...)
		b = append(b, 3)
		return appendLengthAndBytes(b, s.FileSignature), nil
	case 5:
		b := []byte{5}
		b = binary.BigEndian.AppendUint32(b, 1) // signature stream version
		b = appendHashObject(b, s.FileHash)
		b = appendSignatureObject(b, s.FileSignature)
		b = appendHashObject(b, s.MetadataHash)
		return appendSignatureObject(b, s.MetadataSignature), nil
	case 6:
		sf := &hederapb.SignatureFile{
			FileSignature:     signatureObject(s.FileHash, s.FileSignature),
			MetadataSignature: signatureObject(s.MetadataHash, s.MetadataSignature),
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(sf)
		if err != nil {
			return nil, fmt.Errorf("encode signature %s: %w", s.Name, err)
		}
		return append([]byte{6}, body...), nil
	}
	return nil, fmt.Errorf("encode signature %s: version %d: %w", s.Name, s.Version, ErrUnsupportedVersion)
}

func signatureObject(hash, sig []byte) *hederapb.SignatureObject {
	return &hederapb.SignatureObject{
		Type:       hederapb.SignatureType_SHA_384_WITH_RSA,
		Length:     int32(len(sig)),
		Checksum:   sigChecksumAddend - int32(len(sig)),
		Signature:  sig,
		HashObject: hashObject(hash),
	}
}

func hashObject(h []byte) *hederapb.HashObject {
	return &hederapb.HashObject{Algorithm: hederapb.HashAlgorithm_SHA_384, Length: int32(len(h)), Hash: h}
}

func appendHAPI(b []byte, v HAPIVersion) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(v.Major))
	b = binary.BigEndian.AppendUint32(b, uint32(v.Minor))
	return binary.BigEndian.AppendUint32(b, uint32(v.Patch))
}

func appendHashObject(b, h []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, hashClassID)
	b = binary.BigEndian.AppendUint32(b, uint32(hashClassVersion))
	b = binary.BigEndian.AppendUint32(b, uint32(sha384DigestType))
	return appendLengthAndBytes(b, h)
}

func appendSignatureObject(b, sig []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, sigClassID)
	b = binary.BigEndian.AppendUint32(b, uint32(sigClassVersion))
	b = binary.BigEndian.AppendUint32(b, uint32(sigTypeRSA))
	b = binary.BigEndian.AppendUint32(b, uint32(len(sig)))
	b = binary.BigEndian.AppendUint32(b, uint32(sigChecksumAddend-int32(len(sig))))
	return append(b, sig...)
}

func appendLengthAndBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func itemsSize(items []Item, overhead int) int {
	n := 0
	for _, it := range items {
		n += overhead + len(it.Transaction) + len(it.Record)
	}
	return n
}
