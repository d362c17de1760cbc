package parser

import "google.golang.org/protobuf/encoding/protowire"

// bloomSize is the size of an EVM logs bloom: 2048 bits.
const bloomSize = 256

// evmTotals adds up what a block (or record file) says of its EVM
// transactions, as the mirror node's record-file aggregator does: the gas
// the top-level contract results used, and the OR of their blooms.
type evmTotals struct {
	gas   uint64
	bloom [bloomSize]byte
	// unknownBloom: a result had logs but no bloom (a block's records,
	// whose blooms are not computed): the file's bloom is not known.
	unknownBloom bool
}

// add reads a TransactionRecord: a top-level one (no
// parent_consensus_timestamp = 15) with a contractCallResult (7) or
// contractCreateResult (8) adds its gasUsed (5) and bloom (4). A record
// that does not decode adds nothing (its document says why).
func (t *evmTotals) add(rec []byte) {
	var result []byte
	for b := rec; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if num == 15 {
			return
		}
		if typ == protowire.BytesType && (num == 7 || num == 8) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			result, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
	if result == nil {
		return
	}
	var bloom []byte
	logs := false
	for b := result; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch {
		case num == 5 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return
			}
			t.gas += v
			b = b[m:]
			continue
		case num == 4 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			bloom, b = v, b[m:]
			continue
		case num == 6:
			logs = true
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
	if logs && len(bloom) == 0 {
		t.unknownBloom = true
	}
	for i := 0; i < len(bloom) && i < bloomSize; i++ {
		t.bloom[i] |= bloom[i]
	}
}

// bloomOrNil is the file's bloom, nil when it is not known.
func (t *evmTotals) bloomOrNil() []byte {
	if t.unknownBloom {
		return nil
	}
	return append([]byte(nil), t.bloom[:]...)
}
