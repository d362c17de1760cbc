// Package streamgen writes synthetic Hedera record streams the way a
// network of nodes does: chained, gzipped v6 record files with sidecars,
// each node's v6 signature file, the address book whose keys verify them,
// and object names as the nodes' buckets hold them. Knobs break one node's
// copy of a file in the ways real buckets go wrong (a tampered record, a
// signature that does not verify, a missing node, a truncated or non-gzip
// .gz, a sidecar that differs from its listed hash, a break in the chain),
// for tests and benchmarks of readers and downloaders.
//
// Everything a stream file's reader checks is computed by
// libs/recordstream itself (running, file, metadata and sidecar hashes):
// a generated file is right by the same code that judges the real
// node-signed fixtures.
package streamgen

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// DefaultKeyBits is the size of the keys NewNetwork makes. The network's
// keys are 3072-bit; 2048 verifies the same way and is ten times quicker
// to generate, which matters in tests.
const DefaultKeyBits = 2048

// FirstNode is the account number of a network's first node: Hedera's
// nodes are 0.0.3, 0.0.4, ….
const FirstNode = 3

// Node is one node of a generated network, with its private key.
type Node struct {
	Account string // "0.0.3"
	NodeID  int64  // 0 for 0.0.3, 1 for 0.0.4, …
	Key     *rsa.PrivateKey
}

// Network is a set of nodes that sign the streams they write.
type Network struct {
	Nodes []Node
	book  *recordstream.AddressBook
}

// keys caches generated keys per size for the life of the process:
// generating RSA keys is slow (seconds at 3072 bits), and tests build many
// networks. Node i of every network of one key size has the same key.
var keys struct {
	sync.Mutex
	byBits map[int][]*rsa.PrivateKey
}

// NewNetwork makes a network of n nodes, 0.0.3 … 0.0.(n+2), with
// DefaultKeyBits keys.
func NewNetwork(n int) (*Network, error) { return NewNetworkBits(n, DefaultKeyBits) }

// NewNetworkBits makes a network of n nodes with keys of bits bits (2048
// or more).
func NewNetworkBits(n, bits int) (*Network, error) {
	if n < 1 {
		return nil, fmt.Errorf("streamgen: a network needs at least one node, not %d", n)
	}
	if bits < 2048 {
		return nil, fmt.Errorf("streamgen: %d-bit keys are too small (at least 2048)", bits)
	}
	priv, err := cachedKeys(n, bits)
	if err != nil {
		return nil, err
	}
	nw := &Network{}
	pub := make([]recordstream.Node, n)
	for i := range n {
		node := Node{Account: fmt.Sprintf("0.0.%d", FirstNode+i), NodeID: int64(i), Key: priv[i]}
		nw.Nodes = append(nw.Nodes, node)
		pub[i] = recordstream.Node{Account: node.Account, NodeID: node.NodeID, Key: &node.Key.PublicKey}
	}
	if nw.book, err = recordstream.NewAddressBook(pub...); err != nil {
		return nil, err
	}
	return nw, nil
}

func cachedKeys(n, bits int) ([]*rsa.PrivateKey, error) {
	keys.Lock()
	defer keys.Unlock()
	if keys.byBits == nil {
		keys.byBits = map[int][]*rsa.PrivateKey{}
	}
	have := keys.byBits[bits]
	if len(have) >= n {
		return have[:n], nil
	}
	// Generate the missing keys in parallel: each is independent work.
	fresh := make([]*rsa.PrivateKey, n-len(have))
	errs := make([]error, len(fresh))
	var wg sync.WaitGroup
	for i := range fresh {
		wg.Go(func() { fresh[i], errs[i] = rsa.GenerateKey(rand.Reader, bits) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("streamgen: generate %d-bit RSA key: %w", bits, err)
		}
	}
	keys.byBits[bits] = append(have, fresh...)
	return keys.byBits[bits][:n], nil
}

// RotateKey returns a copy of the network in which the node signs with a
// new key, as after a key rotation: files it signs from then on verify
// only with the new network's address book. The new key is not cached.
func (n *Network) RotateKey(account string) (*Network, error) {
	out := &Network{Nodes: append([]Node(nil), n.Nodes...)}
	i := -1
	for j, node := range out.Nodes {
		if node.Account == account {
			i = j
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("streamgen: no node %s in the network", account)
	}
	key, err := rsa.GenerateKey(rand.Reader, n.Nodes[i].Key.N.BitLen())
	if err != nil {
		return nil, fmt.Errorf("streamgen: new key for %s: %w", account, err)
	}
	out.Nodes[i].Key = key
	pub := make([]recordstream.Node, len(out.Nodes))
	for j, node := range out.Nodes {
		pub[j] = recordstream.Node{Account: node.Account, NodeID: node.NodeID, Key: &node.Key.PublicKey}
	}
	if out.book, err = recordstream.NewAddressBook(pub...); err != nil {
		return nil, err
	}
	return out, nil
}

// Accounts lists the nodes' accounts in order.
func (n *Network) Accounts() []string {
	out := make([]string, len(n.Nodes))
	for i, node := range n.Nodes {
		out[i] = node.Account
	}
	return out
}

// Node returns the node with the account, or false.
func (n *Network) Node(account string) (Node, bool) {
	for _, node := range n.Nodes {
		if node.Account == account {
			return node, true
		}
	}
	return Node{}, false
}

// Book is the network's public keys as libs/recordstream verifies with.
func (n *Network) Book() *recordstream.AddressBook { return n.book }

// AddressBook is the network's NodeAddressBook protobuf, as the network
// publishes it in file 0.0.102 (and as the fixtures' address books are):
// per node its memo and nodeAccountId, nodeId, an endpoint, and RSA_PubKey
// as the hex of the key's DER SubjectPublicKeyInfo.
func (n *Network) AddressBook() ([]byte, error) {
	var book hederapb.NodeAddressBook
	for i, node := range n.Nodes {
		der, err := x509.MarshalPKIXPublicKey(&node.Key.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("streamgen: node %s key: %w", node.Account, err)
		}
		ip := net.IPv4(127, 0, 0, 1).To4()
		book.NodeAddress = append(book.NodeAddress, &hederapb.NodeAddress{
			IpAddress:     []byte(ip.String()),
			Portno:        50211,
			Memo:          []byte(node.Account),
			RSA_PubKey:    hex.EncodeToString(der),
			NodeId:        node.NodeID,
			NodeAccountId: &hederapb.AccountID{Account: &hederapb.AccountID_AccountNum{AccountNum: int64(FirstNode + i)}},
			ServiceEndpoint: []*hederapb.ServiceEndpoint{
				{IpAddressV4: ip, Port: 50211},
			},
			Description: "streamgen node " + node.Account,
			Stake:       1,
		})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&book)
	if err != nil {
		return nil, fmt.Errorf("streamgen: address book: %w", err)
	}
	return b, nil
}

// PublicKeyPEM is the node's public key as a "PUBLIC KEY" PEM block, the
// form a directory of per-node key files holds.
func (n *Network) PublicKeyPEM(account string) ([]byte, error) {
	node, ok := n.Node(account)
	if !ok {
		return nil, fmt.Errorf("streamgen: no node %s in the network", account)
	}
	der, err := x509.MarshalPKIXPublicKey(&node.Key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("streamgen: node %s key: %w", account, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WritePublicKeys writes one PEM file per node into dir, named
// name(account) (for example func(a string) string { return a + ".pem" }).
func (n *Network) WritePublicKeys(dir string, name func(account string) string) error {
	for _, node := range n.Nodes {
		b, err := n.PublicKeyPEM(node.Account)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, name(node.Account))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("streamgen: write key of %s: %w", node.Account, err)
		}
	}
	return nil
}

// WriteAddressBook writes AddressBook's bytes to path.
func (n *Network) WriteAddressBook(path string) error {
	b, err := n.AddressBook()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("streamgen: write address book: %w", err)
	}
	return nil
}
