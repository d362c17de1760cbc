package blockstream

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ConsensusRange is the first and last consensus time (ns) of the block's
// transactions: the least and greatest TransactionResult.consensus_timestamp,
// as the mirror node sets a block's consensus start and end. A block with
// no transaction result has the header's timestamp for both (a wrapped
// record block's range is its record file's: WrappedRecordFile.File).
// Only the results' timestamp field is decoded.
func (b *Block) ConsensusRange() (start, end int64, err error) {
	found := false
	for i := range b.Items {
		it := &b.Items[i]
		if it.Kind != KindTransactionResult {
			continue
		}
		ts, ok, err := timestampField(it.Payload, 2)
		if err != nil {
			return 0, 0, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: i, Offset: -1, What: "transaction_result consensus_timestamp: " + err.Error(), Reason: ErrMalformed}
		}
		if !ok {
			return 0, 0, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: i, Offset: -1, What: "transaction_result without a consensus_timestamp", Reason: ErrMalformed}
		}
		if !found || ts < start {
			start = ts
		}
		if !found || ts > end {
			end = ts
		}
		found = true
	}
	if !found {
		return b.Header.TimestampNs, b.Header.TimestampNs, nil
	}
	return start, end, nil
}

// Rounds is the first and last round number of the block's round headers;
// ok is false when it has none (a wrapped record block).
func (b *Block) Rounds() (first, last uint64, ok bool, err error) {
	for i := range b.Items {
		it := &b.Items[i]
		if it.Kind != KindRoundHeader {
			continue
		}
		var n uint64
		err := eachField(it.Payload, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
			if num == 1 {
				if typ != protowire.VarintType {
					return fmt.Errorf("round_number has wire type %d", typ)
				}
				n = x
			}
			return nil
		})
		if err != nil {
			return 0, 0, false, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: i, Offset: -1, What: "round_header: " + err.Error(), Reason: ErrMalformed}
		}
		if !ok {
			first, ok = n, true
		}
		last = n
	}
	return first, last, ok, nil
}

// timestampField decodes the Timestamp message in field num of m.
func timestampField(m []byte, num protowire.Number) (ns int64, ok bool, err error) {
	err = eachField(m, func(n protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if n != num {
			return nil
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d has wire type %d", n, typ)
		}
		t, err := decodeTimestamp(v)
		if err != nil {
			return err
		}
		ns, ok = t, true
		return nil
	})
	return ns, ok, err
}
