package txdoc

import (
	"bytes"
	"cmp"

	"tributary.dev/libs/hederapb"
)

// The mirror node's importer derives what records do not carry from the
// transaction body and the items before it
// (importer/…/parser/record/entity/EntityRecordItemListener.java and
// common/…/domain/transaction/RecordItem.java); this file does the same.

// errataBefore is the consensus time (ns) before which a failed crypto
// transfer's record may list the transfers it attempted: a services bug
// fixed in late 2019 (mirror node docs/database/README.md, "Failed
// Transfers in Record"). EntityRecordItemListener.insertTransferList marks
// such transfers errata DELETE, ErrataMigration.spuriousTransfers does so
// for mainnet data imported before the fix.
const errataBefore = 1577836799000000000

// item is what the mirror node's RecordItem keeps of an item to judge the
// items after it: a child is successful only if its parent is.
type item struct {
	ns          int64
	parentNs    int64
	hasParentNs bool
	successful  bool
	parent      int // index in Encoder.items, -1: none
}

// successStatus says whether a receipt status counts as success
// (RecordItem.parseSuccess).
func successStatus(s int32) bool {
	switch hederapb.ResponseCodeEnum(s) {
	case hederapb.ResponseCodeEnum_SUCCESS, hederapb.ResponseCodeEnum_FEE_SCHEDULE_FILE_PART_UPLOADED,
		hederapb.ResponseCodeEnum_SUCCESS_BUT_MISSING_EXPECTED_OPERATION:
		return true
	}
	return false
}

// track records the item at index of its file and says whether it is
// successful as the mirror node judges it (RecordItem.parseParent and
// parseSuccess): its parent is the previous item, the previous item's
// parent, or that one's parent (an inner transaction of a batch), by
// parent_consensus_timestamp; a child of an unsuccessful parent is not
// successful whatever its status. Items must come in file order from
// index 0; an index out of that order starts a new file.
func (e *Encoder) track(index int, ns int64, rec *record, decoded bool) bool {
	if index == 0 || index != len(e.items) {
		e.items = e.items[:0]
	}
	it := item{ns: ns, parent: -1}
	if decoded {
		it.hasParentNs = rec.hasParent
		it.parentNs = rec.parentSec*1e9 + rec.parentNano
		it.successful = successStatus(rec.status)
		if prev := len(e.items) - 1; it.hasParentNs && prev >= 0 {
			p := &e.items[prev]
			switch {
			case p.ns == it.parentNs:
				it.parent = prev
			case p.parent >= 0 && e.items[p.parent].ns == it.parentNs:
				it.parent = p.parent
			case p.parent >= 0 && e.items[p.parent].hasParentNs && e.items[p.parent].parentNs == it.parentNs:
				it.parent = e.items[p.parent].parent
			}
		}
		if it.parent >= 0 && !e.items[it.parent].successful {
			it.successful = false
		}
	}
	e.items = append(e.items, it)
	return it.successful
}

func sameID(a, b eid) bool {
	return a.set == b.set && a.shard == b.shard && a.realm == b.realm && a.num == b.num &&
		a.hasNum == b.hasNum && a.hasAlias == b.hasAlias && bytes.Equal(a.alias, b.alias)
}

// sameToken compares token ids as EntityId.of does (shard, realm, num).
func sameToken(a, b eid) bool {
	return a.shard == b.shard && a.realm == b.realm && a.num == b.num
}

// deriveTransfers sets is_approval and errata of the record's transfers
// from the body (b.xfers and friends, read for CRYPTOTRANSFER only):
//
//   - hbar (insertTransferList): false, unless the amount is negative or the
//     transfer is a failed one before errataBefore; then the body's
//     AccountAmount with the same account and amount gives it, and in the
//     failed case marks the transfer errata DELETE;
//   - tokens (handleNegativeAccountAmounts): false, unless the amount is
//     negative; then a body AccountAmount of the same token equal to the
//     record's gives it, else true if the body has one of the same token
//     and account with is_approval;
//   - NFTs (isApprovalNftTransfer): the body's NFT transfer of the same
//     token, serial, receiver and sender gives it, else false.
func (e *Encoder) deriveTransfers(successful bool, ns int64) {
	b, r := &e.body, &e.rec
	failed := !successful && b.typeNum == typeCryptoTransfer && ns < errataBefore
	for i := range r.transfers {
		a := &r.transfers[i]
		a.isApproval, a.errata = false, false
		if a.amount >= 0 && !failed {
			continue
		}
		for j := range b.xfers {
			x := &b.xfers[j]
			if x.amount == a.amount && sameID(x.account, a.account) {
				a.isApproval = x.approval
				a.errata = failed
				break
			}
		}
	}
	for i := range r.tokenTransfers {
		a := &r.tokenTransfers[i]
		a.isApproval = false
		if a.amount.amount >= 0 {
			continue
		}
		exact, approved := false, false
		for j := range b.tokens {
			x := &b.tokens[j]
			if !sameToken(x.token, a.token) || !sameID(x.account, a.account) {
				continue
			}
			if x.amount.amount == a.amount.amount && x.approval == a.approval {
				exact = true
				a.isApproval = x.approval
				break
			}
			approved = approved || x.approval
		}
		if !exact {
			a.isApproval = approved
		}
	}
	for i := range r.nfts {
		n := &r.nfts[i]
		n.isApproval = false
		for j := range b.nfts {
			x := &b.nfts[j]
			if sameToken(x.token, n.token) && x.serial == n.serial && sameID(x.receiver, n.receiver) && sameID(x.sender, n.sender) {
				n.isApproval = x.approval
				break
			}
		}
	}
}

// compareID orders ids as the mirror node's encoded entity ids sort
// (shard, then realm, then number); an alias, which records never hold,
// after numbers.
func compareID(a, b eid) int {
	switch {
	case a.shard != b.shard:
		return cmp.Compare(a.shard, b.shard)
	case a.realm != b.realm:
		return cmp.Compare(a.realm, b.realm)
	case a.hasAlias != b.hasAlias:
		if a.hasAlias {
			return 1
		}
		return -1
	case a.hasAlias:
		return bytes.Compare(a.alias, b.alias)
	}
	return cmp.Compare(a.num, b.num)
}

// sortTransfers puts the lists in the order the mirror node's REST API
// serves them (rest/transactions.js: crypto transfers "order by entity_id,
// amount", token transfers "order by token_id, account_id", assessed
// custom fees "order by collector_account_id, amount"). Insertion sort:
// the lists are a handful of entries, and it allocates nothing. Equal
// keys keep the record's order.
func (r *record) sortTransfers() {
	t := r.transfers
	for i := 1; i < len(t); i++ {
		for j := i; j > 0; j-- {
			c := compareID(t[j-1].account, t[j].account)
			if c < 0 || c == 0 && t[j-1].amount <= t[j].amount {
				break
			}
			t[j-1], t[j] = t[j], t[j-1]
		}
	}
	k := r.tokenTransfers
	for i := 1; i < len(k); i++ {
		for j := i; j > 0; j-- {
			c := compareID(k[j-1].token, k[j].token)
			if c == 0 {
				c = compareID(k[j-1].account, k[j].account)
			}
			if c <= 0 {
				break
			}
			k[j-1], k[j] = k[j], k[j-1]
		}
	}
	f := r.assessed
	for i := 1; i < len(f); i++ {
		for j := i; j > 0; j-- {
			c := compareID(f[j-1].collector, f[j].collector)
			if c < 0 || c == 0 && f[j-1].amount <= f[j].amount {
				break
			}
			f[j-1], f[j] = f[j], f[j-1]
		}
	}
}
