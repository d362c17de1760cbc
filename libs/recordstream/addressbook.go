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
	"strings"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// Node is one signer of the stream.
type Node struct {
	Account string // "0.0.3": also the bucket's record0.0.3/ directory
	NodeID  int64
	Key     *rsa.PublicKey
}

// AddressBook is the network's nodes and the keys their stream files are
// signed with, keyed by node account.
type AddressBook struct {
	nodes map[string]Node
}

// NewAddressBook makes a book from nodes (for keys that come from PEM files
// rather than an address-book file); an account given twice is an error.
func NewAddressBook(nodes ...Node) (*AddressBook, error) {
	b := &AddressBook{nodes: make(map[string]Node, len(nodes))}
	for _, n := range nodes {
		if n.Key == nil {
			return nil, fmt.Errorf("address book: node %s has no key", n.Account)
		}
		if _, dup := b.nodes[n.Account]; dup {
			return nil, fmt.Errorf("address book: node %s given twice", n.Account)
		}
		b.nodes[n.Account] = n
	}
	return b, nil
}

// Key is the node's key, or nil for a node the book does not have.
func (b *AddressBook) Key(account string) *rsa.PublicKey {
	return b.nodes[account].Key
}

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
	key := b.Key(account)
	if key == nil {
		return fmt.Errorf("%s: node %s is not in the address book: %w", sig.Name, account, ErrBadSignature)
	}
	if err := sig.Verify(key); err != nil {
		return fmt.Errorf("node %s: %w", account, err)
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
	b := &AddressBook{nodes: map[string]Node{}}
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
		b.nodes[account] = Node{Account: account, NodeID: na.GetNodeId(), Key: key}
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
