package streamgen

import (
	"errors"
	"testing"

	"tributary.dev/libs/recordstream"
)

// An Unchained node's copy reads, verifies with its key and matches its
// own signature, and does not follow the file before it: only the chain
// tells it from the honest copy.
func TestUnchainedCopy(t *testing.T) {
	net, err := NewNetwork(2)
	if err != nil {
		t.Fatal(err)
	}
	g := net.Stream(Options{})
	first, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	second, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	if err := second.SetFault("0.0.3", Unchained); err != nil {
		t.Fatal(err)
	}
	var objs []Object
	for _, f := range []*File{first, second} {
		o, err := f.Objects("recordstreams/")
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	b := toBucket(objs)
	dir := NodeDir("recordstreams/", "0.0.3")
	prev, err := checkFile(b, net.Book(), dir, "0.0.3", first.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := checkFile(b, net.Book(), dir, "0.0.3", second.Name, nil)
	if err != nil {
		t.Fatalf("the unchained copy does not read or verify on its own: %v", err)
	}
	if err := recordstream.Follows(prev, rf); !errors.Is(err, recordstream.ErrChainBroken) {
		t.Errorf("the unchained copy follows the file before it: %v", err)
	}
	if _, err := checkFile(b, net.Book(), NodeDir("recordstreams/", "0.0.4"), "0.0.4", second.Name, prev); err != nil {
		t.Errorf("the honest copy: %v", err)
	}
}

// The node-id layout holds the same objects as the account layout, under
// <network>/<shard>/<node id>/record/.
func TestObjectsNodeID(t *testing.T) {
	net, err := NewNetwork(2)
	if err != nil {
		t.Fatal(err)
	}
	f, err := net.Stream(Options{SidecarEvery: 1}).Next()
	if err != nil {
		t.Fatal(err)
	}
	byAccount, err := f.Objects("")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := f.ObjectsNodeID("testnet", 0)
	if err != nil {
		t.Fatal(err)
	}
	b := toBucket(byID)
	if len(byID) != len(byAccount) || len(byID) != 6 {
		t.Fatalf("%d objects by id, %d by account", len(byID), len(byAccount))
	}
	for _, node := range net.Nodes {
		dir := NodeIDDir("testnet", 0, node.NodeID)
		if _, err := checkFile(b, net.Book(), dir, node.Account, f.Name, nil); err != nil {
			t.Errorf("node %s under %s: %v", node.Account, dir, err)
		}
	}
	if NodeIDDir("mainnet", 0, 21) != "mainnet/0/21/record/" {
		t.Errorf("node-id directory %q", NodeIDDir("mainnet", 0, 21))
	}
}
