package streamgen

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"tributary.dev/libs/recordstream"
)

// Fault is how one node's copy of a file is broken.
type Fault int

const (
	// Honest: the node's record, sidecars and signature are as written.
	Honest Fault = iota
	// Tampered: the node's record file differs from what the signatures
	// (its own included) sign. It still reads cleanly — its running hash
	// is consistent — so only comparing its hash with the signed one
	// finds it.
	Tampered
	// Forked: the node wrote and validly signed a different file: its
	// signature verifies but signs a hash no honest node signs.
	Forked
	// BadSignature: the node's signature file reads but its RSA
	// signatures do not verify with its key.
	BadSignature
	// Absent: the node wrote nothing for this file.
	Absent
	// NoRecord: the node's signature file is there, its record file not.
	NoRecord
	// NoSignature: the node's record file is there, its signature not.
	NoSignature
	// Truncated: the node's .rcd.gz is cut off half way.
	Truncated
	// NotGzip: the node's .rcd.gz holds the plain bytes, not gzip.
	NotGzip
	// BadSidecar: the node's sidecar differs from the hash the record
	// file lists (the file must have a sidecar).
	BadSidecar
	// Unchained: the node wrote and validly signed a different file that
	// starts from a running hash no file of the stream ended with: a copy
	// that does not continue the stream. Every Unchained node of a file
	// serves and signs the same one.
	Unchained
)

var faultNames = [...]string{"honest", "tampered", "forked", "bad-signature", "absent", "no-record", "no-signature", "truncated", "not-gzip", "bad-sidecar", "unchained"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// SetFault breaks the node's copy of the file (Honest mends it).
func (f *File) SetFault(account string, fault Fault) error {
	if _, ok := f.net.Node(account); !ok {
		return fmt.Errorf("streamgen: no node %s in the network", account)
	}
	if fault == BadSidecar && len(f.Sidecars) == 0 {
		return fmt.Errorf("streamgen: %s has no sidecar to break", f.Name)
	}
	if (fault == Tampered || fault == Forked) && f.forged == nil {
		fg, err := f.forge()
		if err != nil {
			return err
		}
		f.forged = fg
	}
	if fault == Unchained && f.unchained == nil {
		fg, err := f.forgeUnchained()
		if err != nil {
			return err
		}
		f.unchained = fg
	}
	f.faults[account] = fault
	return nil
}

// Fault is how the node's copy is broken.
func (f *File) Fault(account string) Fault { return f.faults[account] }

// forgery is the different content Tampered and Forked nodes serve: the
// same file with one transaction byte changed and the running hash
// recomputed, so it reads cleanly but hashes differently.
type forgery struct {
	plain []byte
	rec   *recordstream.RecordFile
}

func (f *File) forge() (*forgery, error) {
	items := make([]recordstream.Item, len(f.Record.Items))
	for i, it := range f.Record.Items {
		items[i] = recordstream.Item{Transaction: bytes.Clone(it.Transaction), Record: it.Record, ConsensusNs: it.ConsensusNs}
	}
	last := items[len(items)-1].Transaction
	last[len(last)-1] ^= 0x01
	plain, rec, err := buildRecord(f.Name, f.Record.HAPI, f.Record.PrevHash, items, f.Record.BlockNumber, f.Sidecars)
	if err != nil {
		return nil, err
	}
	return &forgery{plain: plain, rec: rec}, nil
}

// nodeIndex is the node's place in the network, which sets its gzip mtime.
func (f *File) nodeIndex(account string) int {
	for i, n := range f.net.Nodes {
		if n.Account == account {
			return i
		}
	}
	return -1
}

// RecordBytes is the node's .rcd.gz object, or nil if it has none.
func (f *File) RecordBytes(account string) []byte {
	mtime := f.Consensus.Add(2*time.Second + time.Duration(f.nodeIndex(account))*time.Second)
	switch f.faults[account] {
	case Absent, NoRecord:
		return nil
	case Tampered, Forked:
		return gzipBytes(f.forged.plain, mtime)
	case Unchained:
		return gzipBytes(f.unchained.plain, mtime)
	case Truncated:
		gz := gzipBytes(f.Plain, mtime)
		return gz[:len(gz)/2]
	case NotGzip:
		return bytes.Clone(f.Plain)
	}
	return gzipBytes(f.Plain, mtime)
}

// SignatureBytes is the node's .rcd_sig object, or nil if it has none.
func (f *File) SignatureBytes(account string) ([]byte, error) {
	switch f.faults[account] {
	case Absent, NoSignature:
		return nil, nil
	case Forked:
		node, _ := f.net.Node(account)
		sig, err := sign(node.Key, f.forged.rec)
		if err != nil {
			return nil, err
		}
		return sig.Encode()
	case Unchained:
		node, _ := f.net.Node(account)
		sig, err := sign(node.Key, f.unchained.rec)
		if err != nil {
			return nil, err
		}
		return sig.Encode()
	case BadSignature:
		// A bit of both signatures flipped: the file still reads, the
		// hashes it names are right, and neither signature verifies.
		bad := *f.sigs[account]
		bad.FileSignature, bad.MetadataSignature = flipped(bad.FileSignature), flipped(bad.MetadataSignature)
		return bad.Encode()
	}
	return f.sigs[account].Encode()
}

func flipped(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x10
	return b
}

// SidecarBytes is the node's i-th sidecar object, or nil if it has none.
func (f *File) SidecarBytes(account string, i int) []byte {
	switch f.faults[account] {
	case Absent, NoRecord:
		return nil
	case BadSidecar:
		plain := bytes.Clone(f.Sidecars[i].Plain)
		plain[len(plain)-1] ^= 0x01
		return gzipBytes(plain, f.Consensus)
	}
	return gzipBytes(f.Sidecars[i].Plain, f.Consensus)
}

// Object is one object of a bucket.
type Object struct {
	Key  string
	Body []byte
}

// NodeDir is the node's directory under a bucket prefix such as
// "recordstreams/": "recordstreams/record0.0.3/".
func NodeDir(prefix, account string) string { return prefix + "record" + account + "/" }

// SignatureName is the signature file's name for a record file's:
// "…Z.rcd.gz" and "…Z.rcd" are signed in "…Z.rcd_sig".
func SignatureName(recordName string) string {
	return strings.TrimSuffix(recordName, ".gz") + "_sig"
}

// Objects is every node's objects for the file under prefix (normally
// "recordstreams/"), in the buckets' layout: record<node>/<name>.rcd.gz,
// record<node>/<name>.rcd_sig, record<node>/sidecar/<name>_01.rcd.gz.
func (f *File) Objects(prefix string) ([]Object, error) {
	var out []Object
	for _, node := range f.net.Nodes {
		objs, err := f.NodeObjects(prefix, node.Account)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// NodeObjects is one node's objects for the file under prefix.
func (f *File) NodeObjects(prefix, account string) ([]Object, error) {
	return f.nodeObjectsIn(NodeDir(prefix, account), account)
}

// nodeObjectsIn is one node's objects for the file in its bucket
// directory dir.
func (f *File) nodeObjectsIn(dir, account string) ([]Object, error) {
	var out []Object
	if b := f.RecordBytes(account); b != nil {
		out = append(out, Object{Key: dir + f.Name, Body: b})
	}
	for i, sc := range f.Sidecars {
		if b := f.SidecarBytes(account, i); b != nil {
			out = append(out, Object{Key: dir + "sidecar/" + sc.Name, Body: b})
		}
	}
	sig, err := f.SignatureBytes(account)
	if err != nil {
		return nil, fmt.Errorf("streamgen: %s signature of node %s: %w", f.Name, account, err)
	}
	if sig != nil {
		out = append(out, Object{Key: dir + SignatureName(f.Name), Body: sig})
	}
	return out, nil
}
