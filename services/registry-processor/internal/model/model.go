// Package model is a corporation as the registry-processor loads it from
// COLIN: the versioned rows of its history, each with start and end event
// ids, and every event they name with its effective date resolved. The
// loader (internal/colin) fills it; credential generation (internal/creds)
// reads it; the test-data generator writes the rows it comes from.
//
// Times are naive Pacific local times, as COLIN stores them, carried in
// time.Time values whose location is UTC (only the wall clock counts).
// Conversion to UTC happens when a credential is written (internal/creds).
package model

import "time"

// System is the source system code of COLIN in the event-processor tables.
const System = "BC_REG"

// ConversionDate is the COLIN data-conversion day: an event whose
// event_timestmp falls on it is a conversion event.
var ConversionDate = time.Date(2004, 3, 26, 0, 0, 0, 0, time.UTC)

// Event is one source event a row of the corp refers to.
type Event struct {
	ID        int64
	Corp      string    // event.corp_num
	TypeCd    string    // event.event_typ_cd (FILE, CONVL, ADMIN, …)
	Timestamp time.Time // event.event_timestmp
	Trigger   *time.Time
	// FilingTypeCd is the filing's type when TypeCd is FILE and a filing
	// exists; "" otherwise.
	FilingTypeCd    string
	FilingEffective *time.Time // filing.effective_dt
	ConvEffective   *time.Time // conv_event.effective_dt (CONV* events)
	// Effective is the event's effective date by the original's rules
	// (firm trigger_dts, filing effective_dt, conv_event effective_dt,
	// event_timestmp; event id 0 is 0001-01-01), set by the loader with
	// the type of the corp it was loaded for. The original applies the
	// firm rule this way to corp_state and corp_party rows.
	Effective time.Time
	// EffectiveUntyped is the same date resolved without a corp type (no
	// firm trigger_dts rule): the original resolves the events of names,
	// jurisdictions and offices this way, and the high-water mark's date.
	EffectiveUntyped time.Time
	// Problem names what makes the event unusable (a NULL where a value
	// must be, an event type not in event_type): a corp whose rows name it
	// is held back with this message. "" when it is fine.
	Problem string
}

// IsConversion says the event happened on the data-conversion day.
func (e *Event) IsConversion() bool {
	y, m, d := e.Timestamp.Date()
	cy, cm, cd := ConversionDate.Date()
	return y == cy && m == cm && d == cd
}

// Corp is one corporation with its whole history.
type Corp struct {
	Num            string // corp_num, raw (no BC prefix)
	TypeCd         string // corp_typ_cd
	Class          string // corp_type.corp_class: BC, XPRO, SOC, FIRM, …
	RecognitionDts *time.Time
	LastARFiled    *time.Time
	BN9            *string
	BN15           *string
	AdminEmail     *string
	LastLedgerDt   *time.Time
	// TypeColinInd, TypeShortDesc and TypeFullDesc are the corp_type
	// row's other columns (nil when there is none), for corp_json.
	TypeColinInd, TypeShortDesc, TypeFullDesc *string

	Names         []Name
	States        []State
	Jurisdictions []Jurisdiction
	Offices       []Office
	// Parties are the corp_party rows where the corp is corp_num or
	// bus_company_num (FBO: a firm owned by a corp).
	Parties []Party

	// Events holds every event the rows above start or end with, and the
	// corp's own events, by id.
	Events map[int64]*Event

	// Problems name the corp's own rows that cannot be used, each as
	// "table.column is NULL (…)": the corp is held back (N) with the
	// first of them, and the rest of its batch goes on.
	Problems []string
}

// Name is a corp_name row: CO and NB legal names, AS assumed names.
type Name struct {
	TypeCd string // corp_name_typ_cd
	Seq    int
	Start  int64
	End    *int64 // nil: current
	Name   *string
	Srch   *string // srch_nme
	DDCorp *string // dd_corp_num
}

// State is a corp_state row with its op state (ACT/HIS) from corp_op_state.
type State struct {
	Start      int64
	End        *int64
	StateTypCd string // ACT, HIS, HWT (withdrawn), D1A, …
	OpState    string // op_state_typ_cd: ACT or HIS
}

// Jurisdiction is a jurisdiction row (extra-provincial corps).
type Jurisdiction struct {
	Start          int64
	End            *int64
	CanJurTypCd    string // BC, AB, ON, OT (other), FD (federal), …
	OthrJurisDesc  *string
	HomeRecognDt   *time.Time
	HomeJurisNum   *string
	HomeCompanyNme *string
}

// Office is an office row (RG registered, HD head, FO firm) with its
// addresses (nil when the id is null or points at no address row).
type Office struct {
	TypeCd   string
	Start    int64
	End      *int64
	Mailing  *Address
	Delivery *Address
	// DeliveryAddrID is the delivery_addr_id as stored, kept to name a
	// broken link (an id with no address row) in a process message.
	DeliveryAddrID *int64
	// MailingAddrID is the mailing_addr_id as stored, for the same reason.
	MailingAddrID *int64
}

// Address is an address row.
type Address struct {
	ID           int64
	Province     *string
	CountryTypCd *string
	PostalCd     *string
	Line1        *string
	Line2        *string
	Line3        *string
	City         *string
	AddressDesc  *string
}

// Party is a corp_party row.
type Party struct {
	ID            int64
	CorpNum       string // the firm (SP/GP/MF) for FBO rows
	BusCompanyNum *string
	PartyTypCd    string // FBO, DIR, …
	Start         int64
	End           *int64
	BusinessNme   *string
	AppointmentDt *time.Time
	CessationDt   *time.Time
	// Other is the corporation named by CorpNum when that is not this
	// corp (the firm an owner does business as): only its type and
	// recognition date count. nil when CorpNum is this corp or names no
	// corporation row.
	Other *CorpRef
}

// CorpRef is the little the original reads of the other side of a
// relationship (get_basic_corp_info without the history).
type CorpRef struct {
	Num            string
	TypeCd         string
	RecognitionDts *time.Time
}
