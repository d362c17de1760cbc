// Package consensus decides which record file the nodes agree on, as the
// Hedera mirror node does: each node's signature file names the hash of
// the record file it wrote; the signatures that verify are grouped by that
// hash, and a hash signed by at least CONSENSUS_RATIO of the configured
// nodes is the file of that consensus time.
package consensus

import (
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"tributary.dev/libs/recordstream"
)

// Ratio is the share of the configured nodes whose signatures must agree.
type Ratio float64

// ParseRatio reads "1/3", "0.34" or "1" (all nodes). The result is in
// (0, 1].
func ParseRatio(s string) (Ratio, error) {
	var r float64
	if num, den, ok := strings.Cut(s, "/"); ok {
		n, err1 := strconv.ParseFloat(strings.TrimSpace(num), 64)
		d, err2 := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err1 != nil || err2 != nil || d == 0 {
			return 0, fmt.Errorf("%q: want a fraction like 1/3 or a decimal like 0.34", s)
		}
		r = n / d
	} else {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("%q: want a fraction like 1/3 or a decimal like 0.34", s)
		}
		r = v
	}
	if !(r > 0 && r <= 1) {
		return 0, fmt.Errorf("%q: must be more than 0 and at most 1", s)
	}
	return Ratio(r), nil
}

// Required is how many of n nodes must sign the same hash: the fewest k
// with k/n >= ratio (the mirror node's test), at least one. The small
// tolerance keeps 1/3 of 3 nodes at 1, not 2, after rounding.
func (r Ratio) Required(n int) int {
	k := int(math.Ceil(float64(r)*float64(n) - 1e-9))
	return max(1, min(k, n))
}

// Signed is one node's signature file, read and verified with its key.
type Signed struct {
	Node string
	Key  string // the signature object, for logs
	Sig  *recordstream.Signature
}

// Group is the nodes that signed one file hash.
type Group struct {
	FileHash []byte
	Nodes    []Signed // in the order of the configured nodes
}

// HashHex is the agreed hash as lower-case hex.
func (g Group) HashHex() string { return hex.EncodeToString(g.FileHash) }

// Signers lists the nodes of the group.
func (g Group) Signers() []string {
	out := make([]string, len(g.Nodes))
	for i, s := range g.Nodes {
		out[i] = s.Node
	}
	return out
}

// Decide groups the verified signatures of one consensus time by file hash
// (and metadata hash: two nodes that sign the same file hash with
// different metadata did not write the same file) and returns the group
// with at least required signers; ok is false when no group has enough.
// order is the configured nodes, which orders each group's signers.
func Decide(sigs []Signed, required int, order []string) (g Group, ok bool) {
	rank := make(map[string]int, len(order))
	for i, n := range order {
		rank[n] = i
	}
	groups := map[string]*Group{}
	var keys []string
	for _, s := range sigs {
		k := hex.EncodeToString(s.Sig.FileHash) + "/" + hex.EncodeToString(s.Sig.MetadataHash)
		gr, seen := groups[k]
		if !seen {
			gr = &Group{FileHash: s.Sig.FileHash}
			groups[k] = gr
			keys = append(keys, k)
		}
		gr.Nodes = append(gr.Nodes, s)
	}
	// The largest group wins; with required > n/2 at most one can reach it,
	// and with a lower ratio two forks could: the larger, then the
	// lexically smaller hash, so every replica decides alike.
	sort.Slice(keys, func(i, j int) bool {
		a, b := groups[keys[i]], groups[keys[j]]
		if len(a.Nodes) != len(b.Nodes) {
			return len(a.Nodes) > len(b.Nodes)
		}
		return keys[i] < keys[j]
	})
	if len(keys) == 0 || len(groups[keys[0]].Nodes) < required {
		return Group{}, false
	}
	best := *groups[keys[0]]
	sort.SliceStable(best.Nodes, func(i, j int) bool { return rank[best.Nodes[i].Node] < rank[best.Nodes[j].Node] })
	return best, true
}
