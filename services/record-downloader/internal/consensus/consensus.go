// Package consensus decides which record files the network signed, as the
// Hedera mirror node does (importer ConsensusValidatorImpl): each node's
// signature file names the hash of the record file it wrote; the
// signatures that verify are grouped by that hash, and every hash whose
// signers carry CONSENSUS_RATIO of the whole network in the address book
// in force (its node count, or its stake) is a file the network signed.
// Which nodes were read does not enter the threshold: reading three nodes
// of mainnet's thirty never makes one signature enough.
package consensus

import (
	"encoding/hex"
	"sort"

	"tributary.dev/libs/recordstream"
)

// Signed is one node's signature file, read and verified with its key.
type Signed struct {
	NodeID  int64
	Account string // the node's account in the book in force
	Key     string // the signature object, for logs
	Sig     *recordstream.Signature
}

// Group is the nodes that signed one file (file and metadata hash).
type Group struct {
	FileHash []byte
	Nodes    []Signed // in download order
	Weighing recordstream.Weighing
}

// HashHex is the agreed hash as lower-case hex.
func (g Group) HashHex() string { return hex.EncodeToString(g.FileHash) }

// Signers lists the accounts of the group's nodes.
func (g Group) Signers() []string {
	out := make([]string, len(g.Nodes))
	for i, s := range g.Nodes {
		out[i] = s.Account
	}
	return out
}

// Decide groups the verified signatures of one consensus time by file hash
// and metadata hash (two nodes that sign the same file hash with different
// metadata did not write the same file), weighs each group against the
// book in force, and returns every group that reaches the threshold, the
// heaviest first (then the lexically smaller hash, so every replica
// tries them alike): the mirror node marks every such group
// CONSENSUS_REACHED and takes the first copy of them that continues the
// chain. best is the heaviest group's weighing, for logs, when none
// reaches it. rank orders each group's nodes for downloading (lower
// first; nodes without a rank by node id after them).
func Decide(sigs []Signed, book *recordstream.AddressBook, th recordstream.Threshold, rank map[int64]int) (agreed []Group, best recordstream.Weighing) {
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
	for _, g := range groups {
		ids := make([]int64, len(g.Nodes))
		for i, s := range g.Nodes {
			ids[i] = s.NodeID
		}
		g.Weighing = th.Weigh(book, ids)
		sort.SliceStable(g.Nodes, func(i, j int) bool { return before(rank, g.Nodes[i].NodeID, g.Nodes[j].NodeID) })
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := groups[keys[i]], groups[keys[j]]
		if a.Weighing.Weight != b.Weighing.Weight {
			return a.Weighing.Weight > b.Weighing.Weight
		}
		return keys[i] < keys[j]
	})
	if len(keys) > 0 {
		best = groups[keys[0]].Weighing
	} else {
		best = th.Weigh(book, nil)
	}
	for _, k := range keys {
		if g := groups[k]; g.Weighing.Reached() {
			agreed = append(agreed, *g)
		}
	}
	return agreed, best
}

func before(rank map[int64]int, a, b int64) bool {
	ra, oka := rank[a]
	rb, okb := rank[b]
	switch {
	case oka && okb:
		return ra < rb
	case oka != okb:
		return oka
	}
	return a < b
}
