package txdoc

import "tributary.dev/libs/hederapb"

// appendEntityID appends entity_id as the mirror node sets it: a create's
// new entity from the receipt; the target named in the body for updates,
// deletes, submits, calls and token operations; null for transfers and
// types without one.
func appendEntityID(dst []byte, body *hederapb.TransactionBody, rec *hederapb.TransactionRecord) []byte {
	r := rec.GetReceipt()
	switch d := body.GetData().(type) {
	case *hederapb.TransactionBody_CryptoCreateAccount:
		return appendAccount(dst, r.GetAccountID())
	case *hederapb.TransactionBody_FileCreate:
		return appendFile(dst, r.GetFileID())
	case *hederapb.TransactionBody_ContractCreateInstance:
		return appendContract(dst, r.GetContractID())
	case *hederapb.TransactionBody_ConsensusCreateTopic:
		return appendTopic(dst, r.GetTopicID())
	case *hederapb.TransactionBody_TokenCreation:
		return appendToken(dst, r.GetTokenID())
	case *hederapb.TransactionBody_ScheduleCreate:
		return appendSchedule(dst, r.GetScheduleID())
	case *hederapb.TransactionBody_EthereumTransaction:
		// The contract called or created, which only the outcome names.
		if c := r.GetContractID(); c != nil {
			return appendContract(dst, c)
		}
		return appendContract(dst, contractResult(rec).GetContractID())
	case *hederapb.TransactionBody_ContractCall:
		return appendContract(dst, d.ContractCall.GetContractID())
	case *hederapb.TransactionBody_ContractUpdateInstance:
		return appendContract(dst, d.ContractUpdateInstance.GetContractID())
	case *hederapb.TransactionBody_ContractDeleteInstance:
		return appendContract(dst, d.ContractDeleteInstance.GetContractID())
	case *hederapb.TransactionBody_CryptoDelete:
		return appendAccount(dst, d.CryptoDelete.GetDeleteAccountID())
	case *hederapb.TransactionBody_CryptoUpdateAccount:
		return appendAccount(dst, d.CryptoUpdateAccount.GetAccountIDToUpdate())
	case *hederapb.TransactionBody_FileAppend:
		return appendFile(dst, d.FileAppend.GetFileID())
	case *hederapb.TransactionBody_FileUpdate:
		return appendFile(dst, d.FileUpdate.GetFileID())
	case *hederapb.TransactionBody_FileDelete:
		return appendFile(dst, d.FileDelete.GetFileID())
	case *hederapb.TransactionBody_SystemDelete:
		if c := d.SystemDelete.GetContractID(); c != nil {
			return appendContract(dst, c)
		}
		return appendFile(dst, d.SystemDelete.GetFileID())
	case *hederapb.TransactionBody_SystemUndelete:
		if c := d.SystemUndelete.GetContractID(); c != nil {
			return appendContract(dst, c)
		}
		return appendFile(dst, d.SystemUndelete.GetFileID())
	case *hederapb.TransactionBody_ConsensusUpdateTopic:
		return appendTopic(dst, d.ConsensusUpdateTopic.GetTopicID())
	case *hederapb.TransactionBody_ConsensusDeleteTopic:
		return appendTopic(dst, d.ConsensusDeleteTopic.GetTopicID())
	case *hederapb.TransactionBody_ConsensusSubmitMessage:
		return appendTopic(dst, d.ConsensusSubmitMessage.GetTopicID())
	case *hederapb.TransactionBody_TokenAssociate:
		return appendAccount(dst, d.TokenAssociate.GetAccount())
	case *hederapb.TransactionBody_TokenDissociate:
		return appendAccount(dst, d.TokenDissociate.GetAccount())
	case *hederapb.TransactionBody_TokenFreeze:
		return appendToken(dst, d.TokenFreeze.GetToken())
	case *hederapb.TransactionBody_TokenUnfreeze:
		return appendToken(dst, d.TokenUnfreeze.GetToken())
	case *hederapb.TransactionBody_TokenGrantKyc:
		return appendToken(dst, d.TokenGrantKyc.GetToken())
	case *hederapb.TransactionBody_TokenRevokeKyc:
		return appendToken(dst, d.TokenRevokeKyc.GetToken())
	case *hederapb.TransactionBody_TokenDeletion:
		return appendToken(dst, d.TokenDeletion.GetToken())
	case *hederapb.TransactionBody_TokenUpdate:
		return appendToken(dst, d.TokenUpdate.GetToken())
	case *hederapb.TransactionBody_TokenMint:
		return appendToken(dst, d.TokenMint.GetToken())
	case *hederapb.TransactionBody_TokenBurn:
		return appendToken(dst, d.TokenBurn.GetToken())
	case *hederapb.TransactionBody_TokenWipe:
		return appendToken(dst, d.TokenWipe.GetToken())
	case *hederapb.TransactionBody_TokenFeeScheduleUpdate:
		return appendToken(dst, d.TokenFeeScheduleUpdate.GetTokenId())
	case *hederapb.TransactionBody_TokenPause:
		return appendToken(dst, d.TokenPause.GetToken())
	case *hederapb.TransactionBody_TokenUnpause:
		return appendToken(dst, d.TokenUnpause.GetToken())
	case *hederapb.TransactionBody_TokenUpdateNfts:
		return appendToken(dst, d.TokenUpdateNfts.GetToken())
	case *hederapb.TransactionBody_ScheduleDelete:
		return appendSchedule(dst, d.ScheduleDelete.GetScheduleID())
	case *hederapb.TransactionBody_ScheduleSign:
		return appendSchedule(dst, d.ScheduleSign.GetScheduleID())
	}
	return append(dst, "null"...)
}
