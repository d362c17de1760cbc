package recordstream

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// Sidecar is a v6 sidecar file read and hashed.
type Sidecar struct {
	Name    string
	Size    int64  // bytes as stored (gzipped)
	Hash    []byte // SHA-384 of the decompressed bytes, as SidecarMeta lists it
	Records []*hederapb.TransactionSidecarRecord
}

// ReadSidecar reads a sidecar file (a bare SidecarFile protobuf, gzipped
// when the name ends in ".gz", as they always are).
func ReadSidecar(name string, r io.Reader) (*Sidecar, error) {
	data, err := readAll(name, r)
	if err != nil {
		return nil, err
	}
	return ParseSidecar(name, data)
}

// ParseSidecar reads a sidecar file held in data.
func ParseSidecar(name string, data []byte) (*Sidecar, error) {
	plain, err := gunzipIfNamed(name, data)
	if err != nil {
		return nil, err
	}
	var sf hederapb.SidecarFile
	if err := proto.Unmarshal(plain, &sf); err != nil {
		return nil, &FormatError{File: name, What: "SidecarFile: " + err.Error(), Reason: ErrMalformed}
	}
	sum := sha512.Sum384(plain)
	return &Sidecar{Name: name, Size: int64(len(data)), Hash: sum[:], Records: sf.GetSidecarRecords()}, nil
}

// RecordType is the kind of one sidecar record, told by which field of its
// oneof is set; SIDECAR_TYPE_UNKNOWN for a kind this code does not know.
func RecordType(r *hederapb.TransactionSidecarRecord) SidecarType {
	switch r.GetSidecarRecords().(type) {
	case *hederapb.TransactionSidecarRecord_StateChanges:
		return hederapb.SidecarType_CONTRACT_STATE_CHANGE
	case *hederapb.TransactionSidecarRecord_Actions:
		return hederapb.SidecarType_CONTRACT_ACTION
	case *hederapb.TransactionSidecarRecord_Bytecode:
		return hederapb.SidecarType_CONTRACT_BYTECODE
	}
	return hederapb.SidecarType_SIDECAR_TYPE_UNKNOWN
}

// Types lists the kinds of record the sidecar holds, each once, in order.
func (s *Sidecar) Types() []SidecarType {
	seen := map[SidecarType]bool{}
	var out []SidecarType
	for _, r := range s.Records {
		if t := RecordType(r); !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Check tests that the sidecar is the one the record file lists: the same
// hash. The types are the record file's claim, not checked here.
func (m SidecarMeta) Check(s *Sidecar) error {
	if !bytes.Equal(m.Hash, s.Hash) {
		return fmt.Errorf("sidecar %s: hash %x, the record file lists %x for %s: %w", s.Name, s.Hash, m.Hash, m.Name, ErrHashMismatch)
	}
	return nil
}
