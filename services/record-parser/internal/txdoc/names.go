package txdoc

// typeNames are the names the mirror node's REST API serves as a
// transaction's "name", indexed by the number of the TransactionBody.data
// member (what the importer stores as transaction.type): rest/model/
// transactionType.js, which for 7..60 agrees with the common module's
// TransactionType enum. The REST API names 74 ATOMICBATCH (the enum calls
// it ATOMIC_BATCH) and, since HIP-1195, 75 HOOKSTORE (earlier
// LAMBDASSTORE). Numbers the mirror node does not name are UNKNOWN there
// and here: the system transactions 65..72 (state signature, hinTS,
// history proof, CRS publication), 76 hook dispatch, and any newer member.
//
// The registered-node bodies (HIP-1137) are TransactionBody fields 78, 79
// and 80 in the HAPI protobufs (hiero-consensus-node transaction.proto);
// the mirror node's TransactionType enum gives its REGISTEREDNODE* names
// the HederaFunctionality numbers 101..103 instead, which are not body
// field numbers. Documents name the body fields.
var typeNames = [...]string{
	7:  "CONTRACTCALL",
	8:  "CONTRACTCREATEINSTANCE",
	9:  "CONTRACTUPDATEINSTANCE",
	10: "CRYPTOADDLIVEHASH",
	11: "CRYPTOCREATEACCOUNT",
	12: "CRYPTODELETE",
	13: "CRYPTODELETELIVEHASH",
	14: "CRYPTOTRANSFER",
	15: "CRYPTOUPDATEACCOUNT",
	16: "FILEAPPEND",
	17: "FILECREATE",
	18: "FILEDELETE",
	19: "FILEUPDATE",
	20: "SYSTEMDELETE",
	21: "SYSTEMUNDELETE",
	22: "CONTRACTDELETEINSTANCE",
	23: "FREEZE",
	24: "CONSENSUSCREATETOPIC",
	25: "CONSENSUSUPDATETOPIC",
	26: "CONSENSUSDELETETOPIC",
	27: "CONSENSUSSUBMITMESSAGE",
	28: "UNCHECKEDSUBMIT",
	29: "TOKENCREATION",
	31: "TOKENFREEZE",
	32: "TOKENUNFREEZE",
	33: "TOKENGRANTKYC",
	34: "TOKENREVOKEKYC",
	35: "TOKENDELETION",
	36: "TOKENUPDATE",
	37: "TOKENMINT",
	38: "TOKENBURN",
	39: "TOKENWIPE",
	40: "TOKENASSOCIATE",
	41: "TOKENDISSOCIATE",
	42: "SCHEDULECREATE",
	43: "SCHEDULEDELETE",
	44: "SCHEDULESIGN",
	45: "TOKENFEESCHEDULEUPDATE",
	46: "TOKENPAUSE",
	47: "TOKENUNPAUSE",
	48: "CRYPTOAPPROVEALLOWANCE",
	49: "CRYPTODELETEALLOWANCE",
	50: "ETHEREUMTRANSACTION",
	51: "NODESTAKEUPDATE",
	52: "UTILPRNG",
	53: "TOKENUPDATENFTS",
	54: "NODECREATE",
	55: "NODEUPDATE",
	56: "NODEDELETE",
	57: "TOKENREJECT",
	58: "TOKENAIRDROP",
	59: "TOKENCANCELAIRDROP",
	60: "TOKENCLAIMAIRDROP",
	74: "ATOMICBATCH",
	75: "HOOKSTORE",
	77: "LEDGERIDPUBLICATION",
	78: "REGISTEREDNODECREATE",
	79: "REGISTEREDNODEUPDATE",
	80: "REGISTEREDNODEDELETE",
}

// Unknown is the name of a transaction whose type the mirror node does not
// name, and of an item that did not decode.
const Unknown = "UNKNOWN"

// TypeName is the mirror node's name for the TransactionBody.data member
// number n.
func TypeName(n int) string {
	if n >= 0 && n < len(typeNames) && typeNames[n] != "" {
		return typeNames[n]
	}
	return Unknown
}
