package blockdoc

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
)

// evmResult is the EvmTransactionResult of t's outputs, as the mirror
// node's transformers find it: a contract create's in its contract_create
// output (4), an Ethereum transaction's in its ethereum_call output (3,
// call = 1 or create = 2), any other's in a contract_call output (2).
// create says it goes to the record's contractCreateResult.
func (c *Converter) evmResult(t *tx) (result []byte, create bool, err error) {
	switch t.typeNum {
	case typeContractCreate:
		result, err = bytesField(c.outs[4], 1)
		return result, true, err
	case typeEthereum:
		it := fields{buf: c.outs[3]}
		var f field
		for it.next(&f) {
			if f.typ == protowire.BytesType && (f.num == 1 || f.num == 2) {
				result, create = f.b, f.num == 2
			}
		}
		return result, create, it.err
	default:
		result, err = bytesField(c.outs[2], 1)
		return result, false, err
	}
}

// contractResult builds the record's ContractFunctionResult from an
// EvmTransactionResult (sender_id = 1, contract_id = 2, result_data = 3,
// error_message = 4, gas_used = 5, internal_call_context = 6 {gas = 1,
// value = 2, call_data = 3}, contract_nonces = 8, signer_nonce = 9) and the
// logs of the transaction's EVM trace data. It returns the message, the
// contract id (for the receipt) and the gas used.
func (c *Converter) contractResult(b *blockstream.Block, t *tx, evm []byte) (msg, contract []byte, gas uint64, err error) {
	c.result = c.result[:0]
	dst := c.result
	var callResult, errorMessage, sender, internal, signerNonce []byte
	var nonces [][]byte
	it := fields{buf: evm}
	var f field
	for it.next(&f) {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			sender = f.b
		case f.num == 2 && f.typ == protowire.BytesType:
			contract = f.b
		case f.num == 3 && f.typ == protowire.BytesType:
			callResult = f.b
		case f.num == 4 && f.typ == protowire.BytesType:
			errorMessage = f.b
		case f.num == 5 && f.typ == protowire.VarintType:
			gas = f.v
		case f.num == 6 && f.typ == protowire.BytesType:
			internal = f.b
		case f.num == 8 && f.typ == protowire.BytesType:
			nonces = append(nonces, f.b)
		case f.num == 9 && f.typ == protowire.BytesType:
			signerNonce = f.b
		}
	}
	if it.err != nil {
		return nil, nil, 0, fmt.Errorf("EVM transaction result: %w", it.err)
	}
	// contractID = 1, contractCallResult = 2, errorMessage = 3, gasUsed = 5.
	if contract != nil {
		dst = appendBytes(dst, 1, contract)
	}
	if len(callResult) > 0 {
		dst = appendBytes(dst, 2, callResult)
	}
	if len(errorMessage) > 0 {
		dst = appendBytes(dst, 3, errorMessage)
	}
	if gas != 0 {
		dst = appendVarint(dst, 5, gas)
	}
	// logInfo = 6, from the EVM trace data's logs, and the bloom = 4 of
	// them all.
	var bloom []byte
	if dst, bloom, err = c.logs(dst, b, t); err != nil {
		return nil, nil, 0, err
	}
	if bloom != nil {
		dst = appendBytes(dst, 4, bloom)
	}
	if internal != nil {
		// gas = 10, amount = 11, functionParameters = 12.
		ic := fields{buf: internal}
		for ic.next(&f) {
			switch {
			case f.num == 1 && f.typ == protowire.VarintType:
				dst = appendVarint(dst, 10, f.v)
			case f.num == 2 && f.typ == protowire.VarintType:
				dst = appendVarint(dst, 11, f.v)
			case f.num == 3 && f.typ == protowire.BytesType:
				dst = appendBytes(dst, 12, f.b)
			}
		}
		if ic.err != nil {
			return nil, nil, 0, fmt.Errorf("internal call context: %w", ic.err)
		}
	}
	if sender != nil {
		dst = appendBytes(dst, 13, sender)
	}
	for _, n := range nonces {
		dst = appendBytes(dst, 14, n)
	}
	if signerNonce != nil {
		dst = appendBytes(dst, 15, signerNonce)
	}
	c.result = dst
	return dst, contract, gas, nil
}

// logs appends a ContractLoginfo {contractID = 1, bloom = 2, topic = 3,
// data = 4} per log of the transaction's first EVM trace data
// (TraceData.evm_trace_data = 1; EVMTraceData.logs = 4, each {contract_id
// = 1, data = 2, topics = 3}), each with its bloom as the mirror node
// computes it (the contract's EVM address and each topic, left-padded to
// 32 bytes), and returns the blooms OR-ed: the result's bloom, nil when
// there is no log.
func (c *Converter) logs(dst []byte, b *blockstream.Block, t *tx) ([]byte, []byte, error) {
	for i := t.traceFrom; i < t.traceTo; i++ {
		trace, err := bytesField(b.Items[i].Payload, 1)
		if err != nil {
			return dst, nil, fmt.Errorf("trace data: %w", err)
		}
		if trace == nil {
			continue
		}
		var all [bloomSize]byte
		any := false
		it := fields{buf: trace}
		var f field
		for it.next(&f) {
			if f.num != 4 || f.typ != protowire.BytesType {
				continue
			}
			var bloom [bloomSize]byte
			var contract, data []byte
			var topics [][]byte
			l := fields{buf: f.b}
			var g field
			for l.next(&g) {
				switch {
				case g.num == 1 && g.typ == protowire.BytesType:
					contract = g.b
				case g.num == 2 && g.typ == protowire.BytesType:
					data = g.b
				case g.num == 3 && g.typ == protowire.BytesType:
					topics = append(topics, g.b)
				}
			}
			if l.err != nil {
				return dst, nil, fmt.Errorf("EVM log: %w", l.err)
			}
			addr, err := evmAddress(contract)
			if err != nil {
				return dst, nil, fmt.Errorf("EVM log contract: %w", err)
			}
			bloomAdd(&bloom, addr)
			var info []byte
			if contract != nil {
				info = appendBytes(info, 1, contract)
			}
			for _, topic := range topics {
				var word [32]byte
				if len(topic) <= 32 {
					copy(word[32-len(topic):], topic)
					bloomAdd(&bloom, word[:])
				} else {
					bloomAdd(&bloom, topic)
				}
				info = appendBytes(info, 3, topic)
			}
			if len(data) > 0 {
				info = appendBytes(info, 4, data)
			}
			info = appendBytes(info, 2, bloom[:])
			dst = appendBytes(dst, 6, info)
			for k := range all {
				all[k] |= bloom[k]
			}
			any = true
		}
		if it.err != nil {
			return dst, nil, fmt.Errorf("EVM trace data: %w", it.err)
		}
		if !any {
			return dst, nil, nil
		}
		return dst, all[:], nil
	}
	return dst, nil, nil
}

// evmAddress is a ContractID's EVM address as the mirror node takes it:
// its evm_address (4) when it has one, else the long-zero address of its
// shard (4 bytes), realm and number (8 bytes each).
func evmAddress(contract []byte) ([]byte, error) {
	var shard, realm, num uint64
	it := fields{buf: contract}
	var f field
	for it.next(&f) {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			shard = f.v
		case f.num == 2 && f.typ == protowire.VarintType:
			realm = f.v
		case f.num == 3 && f.typ == protowire.VarintType:
			num = f.v
		case f.num == 4 && f.typ == protowire.BytesType:
			return f.b, nil
		}
	}
	if it.err != nil {
		return nil, it.err
	}
	addr := make([]byte, 20)
	binary.BigEndian.PutUint32(addr, uint32(shard))
	binary.BigEndian.PutUint64(addr[4:], realm)
	binary.BigEndian.PutUint64(addr[12:], num)
	return addr, nil
}
