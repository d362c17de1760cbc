package txdoc

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// TransactionBody.data member numbers the documents look into.
const (
	typeContractCall   = 7
	typeContractCreate = 8
	typeContractUpdate = 9
	typeCryptoAddLive  = 10
	typeCryptoCreate   = 11
	typeCryptoTransfer = 14
	typeFileCreate     = 17
	typeSystemDelete   = 20
	typeSystemUndelete = 21
	typeContractDelete = 22
	typeTopicCreate    = 24
	typeSubmitMessage  = 27
	typeTokenCreate    = 29
	typeScheduleCreate = 42
	typeEthereum       = 50
	typeNodeCreate     = 54
	typeNodeUpdate     = 55
	typeNodeDelete     = 56
	typeTokenReject    = 57
	typeHookStore      = 75
)

// bodyTargets is, per data member number, the field of the body whose id
// the mirror node's importer takes as entity_id with EntityId.of (the
// transaction handler's getEntity in importer/…/parser/record/
// transactionhandler/<Type>TransactionHandler.java). Types absent here
// and from resolve's switch have none: their handler keeps the
// TransactionHandler default, null (CRYPTOTRANSFER, the allowances,
// airdrops, UTILPRNG, NODEDELETE, NODESTAKEUPDATE, ATOMICBATCH,
// LEDGERIDPUBLICATION, the registered nodes and every type the mirror node
// does not name).
var bodyTargets = [...]protowire.Number{
	12: 2, // CryptoDelete: deleteAccountID
	13: 1, // CryptoDeleteLiveHash: accountOfLiveHash
	15: 2, // CryptoUpdate: accountIDToUpdate
	16: 2, // FileAppend: fileID
	18: 2, // FileDelete: fileID
	19: 1, // FileUpdate: fileID
	23: 5, // Freeze: update_file
	25: 1, // ConsensusUpdateTopic: topicID
	26: 1, // ConsensusDeleteTopic: topicID
	31: 2, // TokenFreeze: account (not the token)
	32: 2, // TokenUnfreeze: account
	33: 2, // TokenGrantKyc: account
	34: 2, // TokenRevokeKyc: account
	35: 1, // TokenDelete: token
	36: 1, // TokenUpdate: token
	37: 1, // TokenMint: token
	38: 1, // TokenBurn: token
	39: 1, // TokenWipe: token
	40: 1, // TokenAssociate: account
	41: 1, // TokenDissociate: account
	43: 1, // ScheduleDelete: scheduleID
	44: 1, // ScheduleSign: scheduleID
	45: 1, // TokenFeeScheduleUpdate: token_id
	46: 1, // TokenPause: token
	47: 1, // TokenUnpause: token
	53: 1, // TokenUpdateNfts: token
	54: 1, // NodeCreate: account_id
	55: 2, // NodeUpdate: account_id
}

// resolve reads what documents need from the data member: entity_id as
// the mirror node's importer sets it, the submit-message and ethereum
// members, and a CRYPTOTRANSFER's transfers.
func (d *body) resolve(r *record) error {
	var err error
	switch d.typeNum {
	// A create's new entity, from the receipt.
	case typeCryptoCreate:
		d.entity = entityOf(r.rAccount)
	case typeFileCreate:
		d.entity = entityOf(r.rFile)
	case typeContractCreate:
		d.entity = lookup(r.rContract)
	case typeTopicCreate:
		d.entity = entityOf(r.rTopic)
	case typeTokenCreate:
		d.entity = entityOf(r.rToken)
	case typeScheduleCreate:
		d.entity = entityOf(r.rSchedule)
	case typeContractCall, typeContractUpdate, typeContractDelete:
		// entityIdService.lookup(receipt contractID, body contractID):
		// a contract the body names by EVM address is the one the receipt
		// names by number.
		var target eid
		if target, err = d.dataID(1); err == nil {
			d.entity = lookup(r.rContract, target)
		}
	case typeSystemDelete, typeSystemUndelete:
		// contractID = 2 through the lookup, else fileID = 1.
		var c, f eid
		if c, err = d.dataID(2); err == nil && c.set {
			d.entity = lookup(c)
		} else if err == nil {
			f, err = d.dataID(1)
			d.entity = entityOf(f)
		}
	case typeCryptoAddLive:
		// liveHash = 3, its accountId = 1.
		var a eid
		a, err = d.nestedID(3, 1)
		d.entity = entityOf(a)
	case typeEthereum:
		// The contract of the result (create result, else call result).
		d.entity = entityOf(r.resContract)
		if d.ethData, err = d.dataField(1); err != nil {
			return err
		}
		if d.callData, err = d.dataID(2); err != nil {
			return err
		}
		var v uint64
		v, err = d.dataVarint(3)
		d.allowance = int64(v)
	case typeTokenReject:
		// The owner = 1 if the body has one, else the payer.
		var owner []byte
		if owner, err = d.dataField(1); err == nil {
			if owner != nil {
				var o eid
				o, err = parseID(owner)
				d.entity = lookup(o)
			} else {
				d.entity = entityOf(d.id.account)
			}
		}
	case typeHookStore:
		// hook_id = 1, its entity_id = 1: account_id = 1 or contract_id = 2.
		var hook, owner []byte
		if hook, err = d.dataField(1); err == nil && hook != nil {
			if owner, err = lastBytes(hook, 1); err == nil && owner != nil {
				var a, c eid
				if a, err = idAt(owner, 1); err == nil && a.set {
					d.entity = lookup(a)
				} else if err == nil {
					c, err = idAt(owner, 2)
					d.entity = lookup(c)
				}
			}
		}
	case typeSubmitMessage:
		// The topic (ConsensusSubmitMessageTransactionHandler: topicID = 1)
		// and message = 2, read in one pass: the most common type there is.
		var f [3][]byte
		if f, err = scanBytes(d.data, 1, 2, 3); err == nil && f[0] != nil {
			d.topic, err = parseID(f[0])
		}
		d.entity, d.message = entityOf(d.topic), f[1]
	case typeCryptoTransfer:
		err = d.parseCryptoTransfer()
	default:
		if d.typeNum < len(bodyTargets) && bodyTargets[d.typeNum] != 0 {
			var target eid
			target, err = d.dataID(bodyTargets[d.typeNum])
			d.entity = entityOf(target)
		}
	}
	if err != nil {
		return err
	}
	if err = d.parseMaxFees(); err != nil {
		return fmt.Errorf("max_custom_fees: %w", err)
	}
	return nil
}

// idAt is the id at field num of the message b; the zero eid if absent.
func idAt(b []byte, num protowire.Number) (eid, error) {
	f, err := lastBytes(b, num)
	if err != nil || f == nil {
		return eid{}, err
	}
	return parseID(f)
}

// entityOf is the mirror node's EntityId.of(id): shard.realm.num, the num
// being 0 for an id given by alias or EVM address; 0.0.0 is EntityId.EMPTY,
// which the importer stores as null (common domain/entity/EntityId.java).
func entityOf(id eid) eid {
	if !id.set || id.shard == 0 && id.realm == 0 && id.num == 0 {
		return eid{}
	}
	return eid{shard: id.shard, realm: id.realm, num: id.num, hasNum: true, set: true}
}

// lookup is the mirror node's EntityIdService.lookup(ids…): the first id
// that resolves to a non-empty entity. An id by number resolves as
// EntityId.of. One by EVM address (20 bytes) resolves here when it is a
// "long-zero" address, the id's shard (4 bytes), realm (8) and number (8)
// big-endian, which is how the network derives the addresses of entities
// created by number (basic_types.proto, AccountID/ContractID); any other
// alias is resolved by the mirror node through its entity table, which a
// parser of files does not have: it resolves to nothing, as it does in a
// mirror node that has not seen the entity.
func lookup(ids ...eid) eid {
	for _, id := range ids {
		if !id.set {
			continue
		}
		if id.hasAlias {
			if len(id.alias) != 20 {
				continue
			}
			a := id.alias
			shard, realm := int64(binary.BigEndian.Uint32(a[0:4])), int64(binary.BigEndian.Uint64(a[4:12]))
			if shard != id.shard || realm != id.realm {
				continue
			}
			id = eid{shard: shard, realm: realm, num: int64(binary.BigEndian.Uint64(a[12:20])), hasNum: true, set: true}
		}
		if e := entityOf(id); e.set {
			return e
		}
	}
	return eid{}
}
