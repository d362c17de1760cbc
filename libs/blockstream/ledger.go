package blockstream

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// LedgerIDSize is the length of a ledger id: the hash of the network's
// genesis TSS address book.
const LedgerIDSize = 32

// Ledger is a network's TSS trust anchor: the ledger id every TSS
// signature chains to, with the WRAPS verification key and the genesis
// roster's Schnorr keys a verifier of the chain of trust needs.
type Ledger struct {
	ID                          []byte
	HistoryProofVerificationKey []byte
	Nodes                       []LedgerNode
	// Source says where the ledger came from (block 0, a configured file,
	// a configured id).
	Source string
}

// LedgerNode is one node of the genesis TSS roster.
type LedgerNode struct {
	NodeID, Weight  uint64
	HistoryProofKey []byte
}

// ledgerIDPublicationField is TransactionBody.ledger_id_publication.
const ledgerIDPublicationField = 77

// statusSuccess is ResponseCodeEnum.SUCCESS.
const statusSuccess = 22

// LedgerFromBlock finds the ledger id publication in block 0 of a TSS
// network: a transaction whose body is a LedgerIdPublicationTransactionBody
// (field 77) and whose result is SUCCESS, as the mirror node and the block
// node take it. ok is false when the block publishes none.
func LedgerFromBlock(b *Block) (l *Ledger, ok bool, err error) {
	if b.Header.Number != 0 {
		return nil, false, blockErr(b.Name, int64(b.Header.Number), ErrProof, "the ledger id is taken from block 0 only")
	}
	for i := range b.Items {
		it := &b.Items[i]
		if it.Kind != KindSignedTransaction {
			continue
		}
		pub, found, err := ledgerPublication(it.Payload)
		if err != nil {
			return nil, false, &Error{Name: b.Name, Number: 0, Item: i, Offset: -1, What: "signed_transaction: " + err.Error(), Reason: ErrMalformed}
		}
		if !found {
			continue
		}
		if i+1 >= len(b.Items) || b.Items[i+1].Kind != KindTransactionResult {
			continue // no record: not applied
		}
		var status uint64
		if err := eachField(b.Items[i+1].Payload, func(num protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
			if num == 1 {
				status = x
			}
			return nil
		}); err != nil {
			return nil, false, &Error{Name: b.Name, Number: 0, Item: i + 1, Offset: -1, What: "transaction_result: " + err.Error(), Reason: ErrMalformed}
		}
		if status != statusSuccess {
			continue
		}
		l, err := ParseLedgerPublication(pub, fmt.Sprintf("%s (block 0, item %d)", b.Name, i))
		if err != nil {
			return nil, false, err
		}
		return l, true, nil
	}
	return nil, false, nil
}

// ledgerPublication returns the LedgerIdPublicationTransactionBody of a
// SignedTransaction, if its body is one.
func ledgerPublication(signed []byte) (pub []byte, found bool, err error) {
	var body []byte
	err = eachField(signed, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			body = v
		}
		return nil
	})
	if err != nil || body == nil {
		return nil, false, err
	}
	err = eachField(body, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == ledgerIDPublicationField && typ == protowire.BytesType {
			pub, found = v, true
		}
		return nil
	})
	return pub, found, err
}

// ParseLedgerPublication reads a serialized
// LedgerIdPublicationTransactionBody (the mirror node's
// initialLedgerIdPublication file, or a block 0 transaction's).
func ParseLedgerPublication(data []byte, source string) (*Ledger, error) {
	var m hederapb.LedgerIdPublicationTransactionBody
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("ledger id publication from %s: %v: %w", source, err, ErrMalformed)
	}
	if len(m.GetLedgerId()) != LedgerIDSize {
		return nil, fmt.Errorf("ledger id publication from %s: ledger id of %d bytes, want %d: %w", source, len(m.GetLedgerId()), LedgerIDSize, ErrMalformed)
	}
	l := &Ledger{ID: m.GetLedgerId(), HistoryProofVerificationKey: m.GetHistoryProofVerificationKey(), Source: source}
	for _, n := range m.GetNodeContributions() {
		l.Nodes = append(l.Nodes, LedgerNode{NodeID: n.GetNodeId(), Weight: n.GetWeight(), HistoryProofKey: n.GetHistoryProofKey()})
	}
	return l, nil
}

// ParseLedgerID reads a ledger id given as 64 hex digits (configuration).
func ParseLedgerID(s, source string) (*Ledger, error) {
	id, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(id) != LedgerIDSize {
		return nil, fmt.Errorf("ledger id from %s: want %d hex digits: %w", source, 2*LedgerIDSize, ErrMalformed)
	}
	return &Ledger{ID: id, Source: source}, nil
}

// Same says whether two ledgers name the same network (the same id).
func (l *Ledger) Same(o *Ledger) bool { return l != nil && o != nil && bytes.Equal(l.ID, o.ID) }
