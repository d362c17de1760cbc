package txdoc

import (
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxFee is one FixedFee of a body's CustomFeeLimit, with the limit's
// account: what the REST API serves as one max_custom_fees entry.
type maxFee struct {
	account eid // CustomFeeLimit.account_id = 1
	amount  int64
	token   eid // FixedFee.denominating_token_id = 2; unset: hbar
}

// parseMaxFees reads the body's CustomFeeLimit messages (account_id = 1,
// fees = 2, each a FixedFee of amount = 1 and denominating_token_id = 2)
// into d.fees, flattened as the REST API's CustomFeeLimitsViewModel
// flattens them: one entry per fixed fee, in order.
func (d *body) parseMaxFees() error {
	d.fees = d.fees[:0]
	for _, limit := range d.maxFees {
		account, err := idAt(limit, 1)
		if err != nil {
			return err
		}
		for b := limit; len(b) > 0; {
			f, rest, err := next(b)
			if err != nil {
				return err
			}
			b = rest
			if f.num != 2 || f.typ != protowire.BytesType {
				continue
			}
			fee := maxFee{account: account}
			for c := f.b; len(c) > 0; {
				g, rest, err := next(c)
				if err != nil {
					return err
				}
				c = rest
				switch {
				case g.num == 1 && g.typ == protowire.VarintType:
					fee.amount = int64(g.v)
				case g.num == 2 && g.typ == protowire.BytesType:
					if fee.token, err = parseID(g.b); err != nil {
						return err
					}
				}
			}
			d.fees = append(d.fees, fee)
		}
	}
	return nil
}

// appendMaxCustomFees appends max_custom_fees as the REST API serves them
// (rest/viewmodel/customFeeLimitsViewModel.js): account_id is
// "shard.realm.num" when the limit's AccountID is by number, else null;
// denominating_token_id is null when unset or of number 0 (hbar).
func appendMaxCustomFees(dst []byte, fees []maxFee) []byte {
	dst = append(dst, '[')
	for i := range fees {
		f := &fees[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"account_id":`...)
		if f.account.set && f.account.hasNum {
			dst = append(dst, '"')
			dst = appendEntity(dst, f.account.shard, f.account.realm, f.account.num)
			dst = append(dst, '"')
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, f.amount, 10)
		dst = append(dst, `,"denominating_token_id":`...)
		if f.token.set && f.token.num != 0 {
			dst = append(dst, '"')
			dst = appendEntity(dst, f.token.shard, f.token.realm, f.token.num)
			dst = append(dst, '"')
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendAssessed appends assessed_custom_fees as the REST API's
// TransactionDetail serves them (rest/viewmodel/
// assessedCustomFeeViewModel.js, from what EntityRecordItemListener.
// insertAssessedCustomFees stores): amount, collector_account_id, token_id
// (null for hbar) and effective_payer_account_ids, ids as EntityId.of
// makes them.
func (e *Encoder) appendAssessed(dst []byte) []byte {
	r := &e.rec
	dst = append(dst, `,"assessed_custom_fees":[`...)
	for i := range r.assessed {
		f := &r.assessed[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"amount":`...)
		dst = strconv.AppendInt(dst, f.amount, 10)
		dst = append(dst, `,"collector_account_id":"`...)
		dst = appendEntity(dst, f.collector.shard, f.collector.realm, f.collector.num)
		dst = append(dst, `","token_id":`...)
		dst = appendEID(dst, entityOf(f.token))
		dst = append(dst, `,"effective_payer_account_ids":[`...)
		for j, p := range r.payers[f.payersFrom:f.payersTo] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = appendEntity(dst, p.shard, p.realm, p.num)
			dst = append(dst, '"')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, ']')
}
