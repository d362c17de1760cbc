package recordstream

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// Node is one signer of the stream.
type Node struct {
	Account string // "0.0.3": also the bucket's record0.0.3/ directory
	// NodeID is the node's id: the bucket's <network>/<shard>/<id>/
	// directory in the node-id layout, and what a node stays while its
	// account changes (the dynamic address book, HIP-869).
	NodeID int64
	// Key verifies the node's signature files; nil when the book's key
	// did not read (the node then counts in the network, but no signature
	// of it verifies).
	Key *rsa.PublicKey
	// Stake is the book's stake field (0 where the book carries none).
	Stake int64
}

// AddressBook is the network's nodes and the keys their stream files are
// signed with, keyed by node account and by node id.
type AddressBook struct {
	nodes map[string]Node
	byID  map[int64]Node
}

// NewAddressBook makes a book from nodes (for keys that come from PEM files
// rather than an address-book file); an account or node id given twice is
// an error. A node id of 0 on an account below 0.0.20 other than 0.0.3 is
// read as the account number minus 3, as the mirror node does for the
// early books that carried no ids.
func NewAddressBook(nodes ...Node) (*AddressBook, error) {
	b := &AddressBook{nodes: make(map[string]Node, len(nodes)), byID: make(map[int64]Node, len(nodes))}
	for _, n := range nodes {
		if n.Key == nil {
			return nil, fmt.Errorf("address book: node %s has no key", n.Account)
		}
		if _, dup := b.nodes[n.Account]; dup {
			return nil, fmt.Errorf("address book: node %s given twice", n.Account)
		}
		n.NodeID = legacyNodeID(n.Account, n.NodeID)
		if prev, dup := b.byID[n.NodeID]; dup {
			return nil, fmt.Errorf("address book: nodes %s and %s both have node id %d", prev.Account, n.Account, n.NodeID)
		}
		b.nodes[n.Account] = n
		b.byID[n.NodeID] = n
	}
	return b, nil
}

// legacyNodeID is the mirror node's rule for books from before node ids
// (AddressBookServiceImpl.getNodeIds, INITIAL_NODE_ID_ACCOUNT_ID_OFFSET):
// an id of 0 on an account number below 20 that is not 3 means the
// account number minus 3.
func legacyNodeID(account string, id int64) int64 {
	if id != 0 {
		return id
	}
	m := accountPattern.FindStringSubmatch(account)
	if m == nil {
		return id
	}
	num, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil || num >= 20 || num == 3 {
		return id
	}
	return num - 3
}

// Key is the node's key, or nil for a node the book does not have.
func (b *AddressBook) Key(account string) *rsa.PublicKey {
	return b.nodes[account].Key
}

// NodeByAccount is the node with the account.
func (b *AddressBook) NodeByAccount(account string) (Node, bool) {
	n, ok := b.nodes[account]
	return n, ok
}

// NodeByID is the node with the node id.
func (b *AddressBook) NodeByID(id int64) (Node, bool) {
	n, ok := b.byID[id]
	return n, ok
}

// Len is the number of nodes in the book.
func (b *AddressBook) Len() int { return len(b.nodes) }

// Nodes lists the book's nodes by account.
func (b *AddressBook) Nodes() []Node {
	out := make([]Node, 0, len(b.nodes))
	for _, n := range b.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return accountLess(out[i].Account, out[j].Account) })
	return out
}

// Verify checks sig with the key of the node account that wrote it.
func (b *AddressBook) Verify(account string, sig *Signature) error {
	n, ok := b.nodes[account]
	if !ok {
		return fmt.Errorf("%s: node %s is not in the address book: %w", sig.Name, account, ErrBadSignature)
	}
	return b.verifyNode(n, sig)
}

// VerifyByID checks sig with the key of the node id that wrote it.
func (b *AddressBook) VerifyByID(id int64, sig *Signature) error {
	n, ok := b.byID[id]
	if !ok {
		return fmt.Errorf("%s: node id %d is not in the address book: %w", sig.Name, id, ErrBadSignature)
	}
	return b.verifyNode(n, sig)
}

func (b *AddressBook) verifyNode(n Node, sig *Signature) error {
	if n.Key == nil {
		return fmt.Errorf("%s: node %s (id %d) has no key the address book's RSA_PubKey gives: %w", sig.Name, n.Account, n.NodeID, ErrBadSignature)
	}
	if err := sig.Verify(n.Key); err != nil {
		return fmt.Errorf("node %s: %w", n.Account, err)
	}
	return nil
}

var accountPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

// ReadAddressBook reads a NodeAddressBook protobuf (the network's file
// 0.0.102). A node is known by nodeAccountId, or by its memo in books old
// enough to carry only that; its key is RSA_PubKey, the hex of a DER
// SubjectPublicKeyInfo. A book may list a node once per endpoint: repeats
// must carry the same key.
func ReadAddressBook(name string, r io.Reader) (*AddressBook, error) {
	data, err := readAll(name, r)
	if err != nil {
		return nil, err
	}
	var book hederapb.NodeAddressBook
	if err := proto.Unmarshal(data, &book); err != nil {
		return nil, &FormatError{File: name, What: "NodeAddressBook: " + err.Error(), Reason: ErrMalformed}
	}
	b := &AddressBook{nodes: map[string]Node{}, byID: map[int64]Node{}}
	for i, na := range book.GetNodeAddress() {
		account := ""
		if id := na.GetNodeAccountId(); id != nil && id.GetAccountNum() != 0 {
			account = fmt.Sprintf("%d.%d.%d", id.GetShardNum(), id.GetRealmNum(), id.GetAccountNum())
		} else {
			account = strings.TrimSpace(string(na.GetMemo()))
		}
		if !accountPattern.MatchString(account) {
			return nil, fmt.Errorf("%s: node address %d: no node account (memo %q): %w", name, i, na.GetMemo(), ErrMalformed)
		}
		der, err := hex.DecodeString(strings.TrimSpace(na.GetRSA_PubKey()))
		if err != nil {
			return nil, fmt.Errorf("%s: node %s: RSA_PubKey is not hex: %v: %w", name, account, err, ErrMalformed)
		}
		key, err := parseRSAKey(der)
		if err != nil {
			return nil, fmt.Errorf("%s: node %s: %v: %w", name, account, err, ErrMalformed)
		}
		if prev, ok := b.nodes[account]; ok {
			if !prev.Key.Equal(key) {
				return nil, fmt.Errorf("%s: node %s listed twice with different keys: %w", name, account, ErrMalformed)
			}
			continue
		}
		n := Node{Account: account, NodeID: legacyNodeID(account, na.GetNodeId()), Key: key, Stake: na.GetStake()}
		if prev, dup := b.byID[n.NodeID]; dup {
			return nil, fmt.Errorf("%s: nodes %s and %s both have node id %d: %w", name, prev.Account, account, n.NodeID, ErrMalformed)
		}
		b.nodes[account] = n
		b.byID[n.NodeID] = n
	}
	if len(b.nodes) == 0 {
		return nil, fmt.Errorf("%s: address book lists no nodes: %w", name, ErrMalformed)
	}
	return b, nil
}

// ParsePublicKeyPEM reads an RSA public key from PEM: a "PUBLIC KEY"
// (SubjectPublicKeyInfo) block, or a "CERTIFICATE" whose key is RSA.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return parseRSAKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		key, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate key is %T, want RSA", cert.PublicKey)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("PEM block %q, want PUBLIC KEY or CERTIFICATE", block.Type)
	}
}

func parseRSAKey(der []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	key, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want RSA", k)
	}
	return key, nil
}

// accountLess orders "s.r.n" accounts numerically.
func accountLess(a, b string) bool {
	ma, mb := accountPattern.FindStringSubmatch(a), accountPattern.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return a < b
	}
	for i := 1; i <= 3; i++ {
		if len(ma[i]) != len(mb[i]) {
			return len(ma[i]) < len(mb[i])
		}
		if ma[i] != mb[i] {
			return ma[i] < mb[i]
		}
	}
	return false
}
