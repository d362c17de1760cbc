package downloader

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-downloader/internal/names"
)

// NodeRef is a node as NODES names it: by account ("0.0.3") or by node id
// ("0"). With the dynamic address book a node's account can change while
// its id stays.
type NodeRef struct {
	Account string
	ID      int64
	ByID    bool
}

func (r NodeRef) String() string {
	if r.ByID {
		return "node id " + strconv.FormatInt(r.ID, 10)
	}
	return r.Account
}

// ParseNodeRef reads a NODES entry: an account shard.realm.num or a node
// id.
func ParseNodeRef(s string) (NodeRef, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ".") {
		if err := names.CheckAccount(s); err != nil {
			return NodeRef{}, err
		}
		return NodeRef{Account: s}, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != s {
		return NodeRef{}, fmt.Errorf("node %q: want an account such as 0.0.3 or a node id such as 0", s)
	}
	return NodeRef{ID: id, ByID: true}, nil
}

// findNode finds ref in the books, the latest book first.
func findNode(books []recordstream.DatedBook, ref NodeRef) (recordstream.Node, bool) {
	for i := len(books) - 1; i >= 0; i-- {
		var n recordstream.Node
		var ok bool
		if ref.ByID {
			n, ok = books[i].Book.NodeByID(ref.ID)
		} else {
			n, ok = books[i].Book.NodeByAccount(ref.Account)
		}
		if ok {
			return n, true
		}
	}
	return recordstream.Node{}, false
}

// node is one node a pass reads.
type node struct {
	id      int64
	account string
}

// nodesFrom is the nodes to read from consensus time t on: NODES in their
// order, or every node of the books in force from t on by node id. The
// account of a node is the one the latest of those books gives it.
func (d *Downloader) nodesFrom(t time.Time) []node {
	books := d.cfg.Books.Since(t)
	var out []node
	seen := map[int64]bool{}
	add := func(n recordstream.Node) {
		if !seen[n.NodeID] {
			seen[n.NodeID] = true
			out = append(out, node{id: n.NodeID, account: n.Account})
		}
	}
	if len(d.cfg.Nodes) > 0 {
		for _, ref := range d.cfg.Nodes {
			if n, ok := findNode(books, ref); ok {
				add(n)
			}
		}
		return out
	}
	for i := len(books) - 1; i >= 0; i-- {
		for _, n := range books[i].Book.Nodes() {
			add(n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// rank is the nodes' download order by node id.
func rank(nodes []node) map[int64]int {
	r := make(map[int64]int, len(nodes))
	for i, n := range nodes {
		r[n.id] = i
	}
	return r
}

func (d *Downloader) nodeNames(t time.Time) []string {
	var out []string
	for _, n := range d.nodesFrom(t) {
		out = append(out, n.account)
	}
	return out
}

// PathType is how the bucket lays out each node's files (the mirror
// node's CommonDownloaderProperties.PathType).
type PathType int

const (
	// PathAccountID: <prefix>record<account>/.
	PathAccountID PathType = iota
	// PathNodeID: <network>/<shard>/<node id>/record/.
	PathNodeID
	// PathAuto: the account layout, and the node-id layout for a node
	// whose account directory has nothing new for PathRefresh.
	PathAuto
)

func (p PathType) String() string {
	return [...]string{"ACCOUNT_ID", "NODE_ID", "AUTO"}[p]
}

// ParsePathType reads ACCOUNT_ID, NODE_ID or AUTO (any case).
func ParsePathType(s string) (PathType, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ACCOUNT_ID":
		return PathAccountID, nil
	case "NODE_ID":
		return PathNodeID, nil
	case "AUTO":
		return PathAuto, nil
	}
	return 0, fmt.Errorf("path type %q: want ACCOUNT_ID, NODE_ID or AUTO", s)
}

// paths keeps, per node, which layout AUTO reads it in. The rules are the
// mirror node's (S3StreamFileProvider.PathResult): start with the account
// layout; when a listing there finds nothing and the refresh interval has
// passed, try the node-id layout at once; a node-id listing that finds
// objects makes the node-id layout the node's for good, one that finds
// nothing goes back to the account layout.
type paths struct {
	typ     PathType
	refresh time.Duration
	now     func() time.Time

	mu    sync.Mutex
	nodes map[int64]*pathResult
}

type pathResult struct {
	byID      bool
	expires   time.Time
	permanent bool
}

func newPaths(typ PathType, refresh time.Duration) *paths {
	return &paths{typ: typ, refresh: refresh, now: time.Now, nodes: map[int64]*pathResult{}}
}

func (p *paths) result(id int64) *pathResult {
	r := p.nodes[id]
	if r == nil {
		r = &pathResult{expires: p.now().Add(p.refresh)}
		p.nodes[id] = r
	}
	return r
}

// dir is the node's directory to list now.
func (p *paths) dir(l names.Layout, n node) string {
	switch p.typ {
	case PathAccountID:
		return l.AccountDir(n.account)
	case PathNodeID:
		return l.NodeIDDir(n.id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result(n.id).byID {
		return l.NodeIDDir(n.id)
	}
	return l.AccountDir(n.account)
}

// listed tells AUTO what a listing found and returns whether to list
// again at once in the node-id layout (the fallback).
func (p *paths) listed(n node, found bool) bool {
	if p.typ != PathAuto {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.result(n.id)
	switch {
	case r.permanent:
		return false
	case found && r.byID:
		r.permanent = true
		return false
	case !found && r.byID:
		r.byID = false
		return false
	}
	if now := p.now(); now.After(r.expires) {
		r.expires = now.Add(p.refresh)
		if !found {
			r.byID = true
			return true
		}
	}
	return false
}

// candidates are the directories a node's files may be in, for a
// one-off lookup (a backfill's marker check).
func (p *paths) candidates(l names.Layout, n node) []string {
	switch p.typ {
	case PathAccountID:
		return []string{l.AccountDir(n.account)}
	case PathNodeID:
		return []string{l.NodeIDDir(n.id)}
	}
	return []string{l.AccountDir(n.account), l.NodeIDDir(n.id)}
}
