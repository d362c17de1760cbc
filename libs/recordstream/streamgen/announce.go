package streamgen

import (
	"crypto/rand"
	"fmt"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// announcement is an address book the next file carries.
type announcement struct {
	net   *Network
	book  []byte
	chunk int
}

// AnnounceBook makes the next file announce next's address book the way
// the network does, in the stream itself: after its own items it carries
// a FileUpdate of 0.0.102 with the first chunk bytes of next's
// NodeAddressBook and FileAppends with the rest, each successful. That
// file is still signed by the current nodes; the files after it are
// signed by next's (after Network.RotateKey, say), as a reader that
// follows the address book in the stream expects.
func (g *Generator) AnnounceBook(next *Network, chunk int) error {
	book, err := next.AddressBook()
	if err != nil {
		return err
	}
	if chunk <= 0 {
		chunk = len(book)
	}
	g.announce = &announcement{net: next, book: book, chunk: chunk}
	return nil
}

// items are the announcement's transactions, 1 µs apart after the file's
// last item.
func (a *announcement) items(after []recordstream.Item) []recordstream.Item {
	start := time.Unix(0, after[len(after)-1].ConsensusNs).Add(time.Microsecond)
	return txgen.FileWriteItems(txgen.FileWrite{
		File: recordstream.BookFileNodeDetails, Contents: a.book, Chunk: a.chunk, Start: start,
	})
}

// forgeUnchained is the content Unchained nodes serve: the file's items
// after a start running hash no file ended with, so it reads cleanly,
// hashes differently and does not continue the stream.
func (f *File) forgeUnchained() (*forgery, error) {
	start := make([]byte, recordstream.HashSize)
	if _, err := rand.Read(start); err != nil {
		return nil, fmt.Errorf("streamgen: %w", err)
	}
	plain, rec, err := buildRecord(f.Name, f.Record.HAPI, start, f.Record.Items, f.Record.BlockNumber, f.Sidecars)
	if err != nil {
		return nil, err
	}
	return &forgery{plain: plain, rec: rec}, nil
}

// NodeIDDir is a node's directory in the node-id layout of the buckets
// (the mirror node's PathType NODE_ID): <network>/<shard>/<node id>/record/.
func NodeIDDir(network string, shard, nodeID int64) string {
	return fmt.Sprintf("%s/%d/%d/record/", network, shard, nodeID)
}

// ObjectsNodeID is every node's objects for the file in the node-id
// layout of network (mainnet, testnet, …) and shard: the same objects as
// Objects, under NodeIDDir, sidecars under its sidecar/.
func (f *File) ObjectsNodeID(network string, shard int64) ([]Object, error) {
	var out []Object
	for _, node := range f.net.Nodes {
		objs, err := f.nodeObjectsIn(NodeIDDir(network, shard, node.NodeID), node.Account)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}
