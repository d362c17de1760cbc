package recordstream

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// Signature is a node's signature file for one record file.
type Signature struct {
	Name    string
	Version int // 2, 5 or 6: the version of the record file it signs
	// FileHash is the record file's hash as the node computed it, and
	// FileSignature its SHA384withRSA signature over those 48 bytes.
	FileHash      []byte
	FileSignature []byte
	// MetadataHash and MetadataSignature (v5, v6) are the same for the
	// record file's metadata hash.
	MetadataHash      []byte
	MetadataSignature []byte
}

// maxSignatureSize bounds one RSA signature: 512 bytes is a 4096-bit key;
// the network's keys are 3072-bit (384 bytes).
const maxSignatureSize = 512

// ReadSignature reads a signature file of any version. As with Read, a
// name ending in ".gz" means gzip.
func ReadSignature(name string, r io.Reader) (*Signature, error) {
	data, err := readAll(name, r)
	if err != nil {
		return nil, err
	}
	return ParseSignature(name, data)
}

// ParseSignature reads a signature file held in data. The first byte tells
// the version: 4 is v2 (whose file starts with the file-hash marker, not a
// version), 5 the v5 object stream, 6 a SignatureFile protobuf.
func ParseSignature(name string, data []byte) (*Signature, error) {
	plain, err := gunzipIfNamed(name, data)
	if err != nil {
		return nil, err
	}
	c := &cursor{file: name, buf: plain}
	first, err := c.u8("signature file version")
	if err != nil {
		return nil, err
	}
	var s *Signature
	switch first {
	case 4:
		s, err = parseSignatureV2(c)
	case 5:
		s, err = parseSignatureV5(c)
	case 6:
		s, err = parseSignatureV6(c)
	default:
		return nil, c.fail(0, ErrUnsupportedVersion, "signature file starts with %d (want 4, 5 or 6)", first)
	}
	if err != nil {
		return nil, err
	}
	s.Name = name
	return s, nil
}

// v2: 0x04 | file hash | 0x03 | int32 length | signature.
func parseSignatureV2(c *cursor) (*Signature, error) {
	s := &Signature{Version: 2}
	var err error
	if s.FileHash, err = c.take(HashSize, "file hash"); err != nil {
		return nil, err
	}
	at := c.off
	if m, err := c.u8("signature marker"); err != nil {
		return nil, err
	} else if m != 3 {
		return nil, c.fail(at, ErrMalformed, "signature marker: want 3, got %d", m)
	}
	if s.FileSignature, err = signatureBytes(c, "file signature", false); err != nil {
		return nil, err
	}
	return s, c.end("signature file")
}

// v5: 0x05 | int32 signature stream version | HashObject(file) | signature
// object | HashObject(metadata) | signature object.
func parseSignatureV5(c *cursor) (*Signature, error) {
	s := &Signature{Version: 5}
	var err error
	if _, err = c.i32("signature stream version"); err != nil {
		return nil, err
	}
	if s.FileHash, err = readHashObject(c, "file hash"); err != nil {
		return nil, err
	}
	if s.FileSignature, err = readSignatureObject(c, "file signature"); err != nil {
		return nil, err
	}
	if s.MetadataHash, err = readHashObject(c, "metadata hash"); err != nil {
		return nil, err
	}
	if s.MetadataSignature, err = readSignatureObject(c, "metadata signature"); err != nil {
		return nil, err
	}
	return s, c.end("signature file")
}

// readSignatureObject: int64 class id | int32 class version | int32 type
// (1, SHA384withRSA) | int32 length | int32 checksum (101 - length) | bytes.
func readSignatureObject(c *cursor, what string) ([]byte, error) {
	if err := c.expect64(sigClassID, what+" class id"); err != nil {
		return nil, err
	}
	if _, err := c.i32(what + " class version"); err != nil {
		return nil, err
	}
	if err := c.expect32(sigTypeRSA, what+" type"); err != nil {
		return nil, err
	}
	return signatureBytes(c, what, true)
}

func signatureBytes(c *cursor, what string, checksum bool) ([]byte, error) {
	at := c.off
	n, err := c.i32(what + " length")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxSignatureSize {
		return nil, c.fail(at, ErrMalformed, "%s length %d, want 1 to %d", what, n, maxSignatureSize)
	}
	if checksum {
		if err := c.expect32(sigChecksumAddend-n, what+" checksum"); err != nil {
			return nil, err
		}
	}
	return c.take(int(n), what)
}

// v6: 0x06 | SignatureFile, both signatures present, SHA384withRSA over
// 48-byte SHA-384 hashes.
func parseSignatureV6(c *cursor) (*Signature, error) {
	var sf hederapb.SignatureFile
	if err := proto.Unmarshal(c.buf[c.off:], &sf); err != nil {
		return nil, c.fail(c.off, ErrMalformed, "SignatureFile: %v", err)
	}
	s := &Signature{Version: 6}
	for _, o := range []struct {
		what      string
		obj       *hederapb.SignatureObject
		hash, sig *[]byte
	}{
		{"file signature", sf.GetFileSignature(), &s.FileHash, &s.FileSignature},
		{"metadata signature", sf.GetMetadataSignature(), &s.MetadataHash, &s.MetadataSignature},
	} {
		switch {
		case o.obj == nil:
			return nil, c.fail(c.off, ErrMalformed, "no %s", o.what)
		case o.obj.GetType() != hederapb.SignatureType_SHA_384_WITH_RSA:
			return nil, c.fail(c.off, ErrMalformed, "%s: type %v, want SHA_384_WITH_RSA", o.what, o.obj.GetType())
		case o.obj.GetHashObject().GetAlgorithm() != hederapb.HashAlgorithm_SHA_384 || len(o.obj.GetHashObject().GetHash()) != HashSize:
			return nil, c.fail(c.off, ErrMalformed, "%s: hash %v of %d bytes, want SHA_384 of %d",
				o.what, o.obj.GetHashObject().GetAlgorithm(), len(o.obj.GetHashObject().GetHash()), HashSize)
		case len(o.obj.GetSignature()) == 0 || len(o.obj.GetSignature()) > maxSignatureSize:
			return nil, c.fail(c.off, ErrMalformed, "%s: %d bytes, want 1 to %d", o.what, len(o.obj.GetSignature()), maxSignatureSize)
		}
		*o.hash, *o.sig = o.obj.GetHashObject().GetHash(), o.obj.GetSignature()
	}
	return s, nil
}

// Verify checks the node's signatures with its key: SHA384withRSA
// (PKCS #1 v1.5) over the file hash and, for v5 and v6, over the metadata
// hash. It says nothing about a record file: see RecordFile.Matches.
func (s *Signature) Verify(key *rsa.PublicKey) error {
	if key == nil {
		return fmt.Errorf("%s: verify: no key: %w", s.Name, ErrBadSignature)
	}
	if err := verifyHash(key, s.FileHash, s.FileSignature); err != nil {
		return fmt.Errorf("%s: file hash %x: %w", s.Name, s.FileHash, err)
	}
	if s.Version >= 5 {
		if err := verifyHash(key, s.MetadataHash, s.MetadataSignature); err != nil {
			return fmt.Errorf("%s: metadata hash %x: %w", s.Name, s.MetadataHash, err)
		}
	}
	return nil
}

func verifyHash(key *rsa.PublicKey, hash, sig []byte) error {
	// SHA384withRSA signs the SHA-384 of its message, and the message here
	// is itself a hash.
	digest := sha512.Sum384(hash)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA384, digest[:], sig); err != nil {
		return fmt.Errorf("%w (%v)", ErrBadSignature, err)
	}
	return nil
}

// Matches checks that the record file is the one the signature signs: the
// same version, the same file hash and, for v5 and v6, the same metadata
// hash.
func (f *RecordFile) Matches(s *Signature) error {
	switch {
	case f.Version != s.Version:
		return fmt.Errorf("%s is version %d, signature %s is for version %d: %w", f.Name, f.Version, s.Name, s.Version, ErrHashMismatch)
	case !bytes.Equal(f.FileHash, s.FileHash):
		return fmt.Errorf("%s: file hash %x, signature %s signs %x: %w", f.Name, f.FileHash, s.Name, s.FileHash, ErrHashMismatch)
	case f.Version >= 5 && !bytes.Equal(f.MetadataHash, s.MetadataHash):
		return fmt.Errorf("%s: metadata hash %x, signature %s signs %x: %w", f.Name, f.MetadataHash, s.Name, s.MetadataHash, ErrHashMismatch)
	}
	return nil
}
