package txdoc

import "google.golang.org/protobuf/encoding/protowire"

// TransactionBody.data member numbers the documents look into.
const (
	typeSubmitMessage = 27
	typeEthereum      = 50
)

// targets is, per data member number, the field of the body that names
// the entity a transaction acts on (the mirror node's entity_id for
// updates, deletes, submits, calls and token operations).
var targets = [...]protowire.Number{
	7:  1, // contractCall.contractID
	9:  1, // contractUpdateInstance.contractID
	12: 2, // cryptoDelete.deleteAccountID
	15: 2, // cryptoUpdateAccount.accountIDToUpdate
	16: 2, // fileAppend.fileID
	18: 2, // fileDelete.fileID
	19: 1, // fileUpdate.fileID
	22: 1, // contractDeleteInstance.contractID
	25: 1, // consensusUpdateTopic.topicID
	26: 1, // consensusDeleteTopic.topicID
	27: 1, // consensusSubmitMessage.topicID
	31: 1, // tokenFreeze.token
	32: 1, // tokenUnfreeze.token
	33: 1, // tokenGrantKyc.token
	34: 1, // tokenRevokeKyc.token
	35: 1, // tokenDeletion.token
	36: 1, // tokenUpdate.token
	37: 1, // tokenMint.token
	38: 1, // tokenBurn.token
	39: 1, // tokenWipe.token
	40: 1, // tokenAssociate.account
	41: 1, // tokenDissociate.account
	43: 1, // scheduleDelete.scheduleID
	44: 1, // scheduleSign.scheduleID
	45: 1, // token_fee_schedule_update.token_id
	46: 1, // token_pause.token
	47: 1, // token_unpause.token
	53: 1, // token_update_nfts.token
}

// resolve reads what documents need from the data member: entity_id as
// the mirror node sets it (a create's new entity from the receipt, the
// target named in the body, null for transfers and types without one),
// and the submit-message and ethereum members.
func (d *body) resolve(r *record) error {
	var err error
	switch d.typeNum {
	case 11: // cryptoCreateAccount
		d.entity = r.rAccount
	case 17: // fileCreate
		d.entity = r.rFile
	case 8: // contractCreateInstance
		d.entity = r.rContract
	case 24: // consensusCreateTopic
		d.entity = r.rTopic
	case 29: // tokenCreation
		d.entity = r.rToken
	case 42: // scheduleCreate
		d.entity = r.rSchedule
	case 20, 21: // systemDelete, systemUndelete: contractID = 2 or fileID = 1
		if d.entity, err = d.dataID(2); err == nil && !d.entity.set {
			d.entity, err = d.dataID(1)
		}
	case typeEthereum:
		// The contract called or created, which only the outcome names.
		d.entity = r.rContract
		if !d.entity.set {
			d.entity = r.resContract
		}
		if d.ethData, err = d.dataField(1); err != nil {
			return err
		}
		if d.callData, err = d.dataID(2); err != nil {
			return err
		}
		var v uint64
		v, err = d.dataVarint(3)
		d.allowance = int64(v)
	default:
		if d.typeNum < len(targets) && targets[d.typeNum] != 0 {
			d.entity, err = d.dataID(targets[d.typeNum])
		}
	}
	if err != nil {
		return err
	}
	if d.typeNum == typeSubmitMessage {
		d.topic = d.entity
		d.message, err = d.dataField(2)
	}
	return err
}
