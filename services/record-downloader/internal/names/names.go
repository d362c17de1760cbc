// Package names checks the object names of a node's record-stream bucket
// before anything else sees them. A name is accepted only when it is
// exactly <prefix>record<shard>.<realm>.<num>/<consensus time><suffix> (or
// the sidecar form below it): nothing else — no "..", no extra slash, no
// NUL, no backslash — can reach a path join, because what is accepted is
// rebuilt from parsed parts, never copied.
package names

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is what an object of the stream is.
type Kind string

const (
	Record    Kind = "record"
	Signature Kind = "signature"
	Sidecar   Kind = "sidecar"
)

// timeLayout is a consensus time as object names write it: RFC 3339 in
// UTC with underscores for colons; 6 digits of fraction in early files,
// 9 later.
const timeLayout = "2006-01-02T15_04_05.999999999Z"

var (
	// nodeDir is "record0.0.3": plain decimal numbers, no leading sign.
	nodeDir = regexp.MustCompile(`^record([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})$`)
	// base is the consensus-time stem and what may follow it.
	fileName = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}_[0-9]{2}_[0-9]{2}(?:\.[0-9]{1,9})?Z)(\.rcd|\.rcd\.gz|\.rcd_sig|_([0-9]{2})\.rcd\.gz)$`)
	// account is "0.0.3".
	account = regexp.MustCompile(`^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}$`)
)

// Name is one accepted object name, taken apart.
type Name struct {
	Key  string // the object key as listed
	Node string // "0.0.3"
	Kind Kind
	// Stem is the consensus time as written in the name
	// ("2022-07-13T08_46_11.304284003Z"), Time the same parsed.
	Stem string
	Time time.Time
	// File is the base name ("…Z.rcd.gz", "…Z.rcd_sig", "…Z_01.rcd.gz").
	File string
	// SidecarID is the sidecar's number (Kind Sidecar only).
	SidecarID int
	// ByNodeID: the name is in the node-id layout, and NodeID is the
	// node's id (Node is then empty: the book in force maps it to an
	// account).
	ByNodeID bool
	NodeID   int64
}

// Error is a name refused, with why.
type Error struct {
	Key    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("object %q: %s", e.Key, e.Reason) }

// CheckAccount accepts a node account as NODES lists it ("0.0.3").
func CheckAccount(a string) error {
	if !account.MatchString(a) {
		return fmt.Errorf("node %q: want shard.realm.number, e.g. 0.0.3", a)
	}
	return nil
}

// Parse accepts key if it is a record, signature or sidecar object of a
// node directly under prefix ("recordstreams/", possibly empty).
func Parse(prefix, key string) (Name, error) {
	bad := func(format string, a ...any) (Name, error) {
		return Name{}, &Error{Key: key, Reason: fmt.Sprintf(format, a...)}
	}
	if err := checkChars(key); err != nil {
		return Name{}, err
	}
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return bad("not under the bucket prefix %q", prefix)
	}
	parts := strings.Split(rest, "/")
	var dir, file string
	sidecarDir := false
	switch {
	case len(parts) == 2:
		dir, file = parts[0], parts[1]
	case len(parts) == 3 && parts[1] == "sidecar":
		dir, file, sidecarDir = parts[0], parts[2], true
	default:
		return bad("want %srecord<node>/<consensus time>.rcd[.gz|_sig] or …/sidecar/<consensus time>_NN.rcd.gz", prefix)
	}
	m := nodeDir.FindStringSubmatch(dir)
	if m == nil {
		return bad("directory %q is not record<shard>.<realm>.<num>", dir)
	}
	return parseFile(key, file, sidecarDir, Name{Key: key, Node: m[1] + "." + m[2] + "." + m[3]})
}

// checkChars refuses the characters no layout's name holds and a path
// join would misread.
func checkChars(key string) error {
	switch {
	case strings.ContainsRune(key, 0):
		return &Error{Key: key, Reason: "contains NUL"}
	case strings.ContainsAny(key, "\\"):
		return &Error{Key: key, Reason: "contains a backslash"}
	}
	return nil
}

// parseFile checks the file part of a key (below the node's directory)
// and completes n.
func parseFile(key, file string, sidecarDir bool, n Name) (Name, error) {
	bad := func(format string, a ...any) (Name, error) {
		return Name{}, &Error{Key: key, Reason: fmt.Sprintf(format, a...)}
	}
	f := fileName.FindStringSubmatch(file)
	if f == nil {
		return bad("file %q is not a record-stream name", file)
	}
	t, err := time.Parse(timeLayout, f[1])
	if err != nil {
		return bad("consensus time %q: %v", f[1], err)
	}
	n.Stem, n.Time, n.File = f[1], t, file
	switch {
	case f[3] != "":
		if !sidecarDir {
			return bad("sidecar file outside sidecar/")
		}
		n.Kind = Sidecar
		n.SidecarID, _ = strconv.Atoi(f[3])
	case sidecarDir:
		return bad("only sidecar files belong in sidecar/")
	case f[2] == ".rcd_sig":
		n.Kind = Signature
	default:
		n.Kind = Record
	}
	return n, nil
}

// NodeDir is the node's directory in the bucket: <prefix>record<node>/.
func NodeDir(prefix, node string) string { return prefix + "record" + node + "/" }

// Layout is where a bucket keeps each node's files: by account
// (<Prefix>record<account>/, the mirror node's PathType ACCOUNT_ID) or by
// node id (<Network>/<Shard>/<node id>/record/, NODE_ID; sidecars below
// either in sidecar/).
type Layout struct {
	Prefix  string
	Network string
	Shard   int64
}

// AccountDir is the node's directory in the account layout.
func (l Layout) AccountDir(account string) string { return NodeDir(l.Prefix, account) }

// NodeIDDir is the node's directory in the node-id layout.
func (l Layout) NodeIDDir(id int64) string {
	return l.Network + "/" + strconv.FormatInt(l.Shard, 10) + "/" + strconv.FormatInt(id, 10) + "/record/"
}

// network is a network name as the node-id layout's first directory
// holds it: mainnet, testnet, previewnet, or a local name.
var network = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckNetwork accepts a network name for the node-id layout.
func CheckNetwork(n string) error {
	if !network.MatchString(n) {
		return fmt.Errorf("network %q: want lower-case letters, digits and -, e.g. mainnet", n)
	}
	return nil
}

// nodeID is a node id as a directory: decimal without leading zeros.
var nodeID = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})$`)

// Parse accepts key if it is a record, signature or sidecar object of a
// node in either layout.
func (l Layout) Parse(key string) (Name, error) {
	root := l.Network + "/" + strconv.FormatInt(l.Shard, 10) + "/"
	rest, ok := strings.CutPrefix(key, root)
	if l.Network == "" || !ok {
		return Parse(l.Prefix, key)
	}
	bad := func(format string, a ...any) (Name, error) {
		return Name{}, &Error{Key: key, Reason: fmt.Sprintf(format, a...)}
	}
	if err := checkChars(key); err != nil {
		return Name{}, err
	}
	parts := strings.Split(rest, "/")
	var id, file string
	sidecarDir := false
	switch {
	case len(parts) == 3 && parts[1] == "record":
		id, file = parts[0], parts[2]
	case len(parts) == 4 && parts[1] == "record" && parts[2] == "sidecar":
		id, file, sidecarDir = parts[0], parts[3], true
	default:
		return bad("want %s<node id>/record/<consensus time>.rcd[.gz|_sig] or …/record/sidecar/<consensus time>_NN.rcd.gz", root)
	}
	if !nodeID.MatchString(id) {
		return bad("directory %q is not a node id", id)
	}
	num, _ := strconv.ParseInt(id, 10, 64)
	return parseFile(key, file, sidecarDir, Name{Key: key, ByNodeID: true, NodeID: num})
}

// Dir is the directory of the node the name belongs to, in its layout.
func (l Layout) Dir(n Name) string {
	if n.ByNodeID {
		return l.NodeIDDir(n.NodeID)
	}
	return l.AccountDir(n.Node)
}

// Day is the local directory of a consensus time: its UTC date.
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// marker is a prefix of a consensus-time stem.
var marker = regexp.MustCompile(`^[0-9]{4}(-[0-9]{0,2}(-[0-9]{0,2}(T[0-9_.]*Z?)?)?)?$`)

// CheckMarker accepts a backfill marker: a prefix of a consensus-time
// stem ("2022-07-13T08_46", "2022-07", "2022-07-13T08_46_11.3042"), made
// only of the characters a stem holds.
func CheckMarker(m string) error {
	if !marker.MatchString(m) || len(m) > len("2006-01-02T15_04_05.999999999Z") {
		return fmt.Errorf("marker %q: want a consensus-time prefix such as 2022-07-13T08_46 (YYYY-MM-DDTHH_mm_ss, any shorter prefix too)", m)
	}
	return nil
}
