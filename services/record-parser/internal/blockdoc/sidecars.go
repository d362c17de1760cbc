package blockdoc

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
)

// stateBytecode is the contract bytecode state (StateIdentifier 5): map
// updates keyed by contract_id_key (13) whose value is bytecode_value (3),
// a Bytecode {code = 1}.
const stateBytecode = 5

// Sidecars are the contract sidecar records of the last Convert's
// transactions, by consensus time, as a record file's sidecar files would
// give them (txdoc.SidecarsByConsensus): the contract actions of a
// transaction's EVM trace data, and a contract create's bytecode. Valid
// until the next Convert.
func (c *Converter) Sidecars() map[int64][]*hederapb.TransactionSidecarRecord { return c.sidecars }

// evmSidecars adds t's sidecar records, in the mirror node's order
// (transformContractActions, transformContractBytecode): the contract
// actions of its first EVM trace data, then for a contract create the
// runtime bytecode from its unit's state changes with the initcode its
// trace data gives (explicitly, or as bookends around the runtime
// bytecode). Contract storage changes are not rebuilt.
func (c *Converter) evmSidecars(b *blockstream.Block, i int, contract []byte) error {
	t := &c.w.txs[i]
	var trace []byte
	for k := t.traceFrom; k < t.traceTo && trace == nil; k++ {
		var err error
		if trace, err = bytesField(b.Items[k].Payload, 1); err != nil {
			return fmt.Errorf("trace data: %w", err)
		}
	}
	at := &hederapb.Timestamp{Seconds: t.consensusNs / 1e9, Nanos: int32(t.consensusNs % 1e9)}
	var initcode []byte // EVMTraceData.executed_initcode = 1
	if trace != nil {
		var actions []*hederapb.ContractAction
		it := fields{buf: trace}
		var f field
		for it.next(&f) {
			switch {
			case f.num == 1 && f.typ == protowire.BytesType:
				initcode = f.b
			case f.num == 2 && f.typ == protowire.BytesType:
				a := &hederapb.ContractAction{}
				if err := proto.Unmarshal(f.b, a); err != nil {
					return fmt.Errorf("contract action: %w", err)
				}
				actions = append(actions, a)
			}
		}
		if it.err != nil {
			return fmt.Errorf("EVM trace data: %w", it.err)
		}
		if len(actions) > 0 {
			c.addSidecar(t.consensusNs, &hederapb.TransactionSidecarRecord{ConsensusTimestamp: at,
				SidecarRecords: &hederapb.TransactionSidecarRecord_Actions{Actions: &hederapb.ContractActions{ContractActions: actions}}})
		}
	}
	if t.typeNum != typeContractCreate || contract == nil {
		return nil
	}
	runtime, err := c.bytecode(b, i, contract)
	if err != nil || runtime == nil {
		return err
	}
	var id hederapb.ContractID
	if err := proto.Unmarshal(contract, &id); err != nil {
		return fmt.Errorf("contract id: %w", err)
	}
	bc := &hederapb.ContractBytecode{ContractId: &id, RuntimeBytecode: runtime}
	if initcode != nil {
		// ExecutedInitcode: explicit_initcode = 3, or initcode_bookends =
		// 2 {deploy_bytecode = 1, metadata_bytecode = 2}.
		explicit, err := bytesField(initcode, 3)
		if err != nil {
			return fmt.Errorf("executed initcode: %w", err)
		}
		bookends, err := bytesField(initcode, 2)
		if err != nil {
			return fmt.Errorf("executed initcode: %w", err)
		}
		switch {
		case explicit != nil:
			bc.Initcode = explicit
		case bookends != nil:
			deploy, _ := bytesField(bookends, 1)
			metadata, _ := bytesField(bookends, 2)
			bc.Initcode = append(append(append([]byte(nil), deploy...), runtime...), metadata...)
		}
	}
	c.addSidecar(t.consensusNs, &hederapb.TransactionSidecarRecord{ConsensusTimestamp: at,
		SidecarRecords: &hederapb.TransactionSidecarRecord_Bytecode{Bytecode: bc}})
	return nil
}

func (c *Converter) addSidecar(ns int64, r *hederapb.TransactionSidecarRecord) {
	c.sidecars[ns] = append(c.sidecars[ns], r)
}

// bytecode is the runtime bytecode of contract in the state changes of
// transaction i's unit, nil when they hold none.
func (c *Converter) bytecode(b *blockstream.Block, i int, contract []byte) ([]byte, error) {
	txs := c.w.txs
	root := i
	for txs[root].parent >= 0 {
		root = txs[root].parent
	}
	want := idKey(contract)
	var code []byte
	for k := txs[root].stateFrom; k < txs[root].stateTo; k++ {
		it := fields{buf: b.Items[k].Payload}
		var f field
		for it.next(&f) {
			if f.num != 2 || f.typ != protowire.BytesType {
				continue
			}
			id, _, err := varintField(f.b, 1)
			if err != nil {
				return nil, err
			}
			if id != stateBytecode {
				continue
			}
			update, err := bytesField(f.b, 5)
			if err != nil || update == nil {
				return nil, err
			}
			key, err := bytesField(update, 1)
			if err != nil {
				return nil, err
			}
			keyContract, err := bytesField(key, 13)
			if err != nil || keyContract == nil || idKey(keyContract) != want {
				return nil, err
			}
			value, err := bytesField(update, 2)
			if err != nil {
				return nil, err
			}
			bc, err := bytesField(value, 3)
			if err != nil {
				return nil, err
			}
			if code, err = bytesField(bc, 1); err != nil {
				return nil, err
			}
		}
		if it.err != nil {
			return nil, it.err
		}
	}
	return bytes.Clone(code), nil
}
