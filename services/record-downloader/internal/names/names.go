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
	if strings.ContainsRune(key, 0) {
		return bad("contains NUL")
	}
	if strings.ContainsAny(key, "\\") {
		return bad("contains a backslash")
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
	f := fileName.FindStringSubmatch(file)
	if f == nil {
		return bad("file %q is not a record-stream name", file)
	}
	t, err := time.Parse(timeLayout, f[1])
	if err != nil {
		return bad("consensus time %q: %v", f[1], err)
	}
	n := Name{Key: key, Node: m[1] + "." + m[2] + "." + m[3], Stem: f[1], Time: t, File: file}
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
