package testdata

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// corpType is one corp_type row and how often the generator makes it
// (weight per 10,000 corps).
type corpType struct {
	cd, class, short, full string
	weight                 int
}

// corpTypes is COLIN's corp_type subset: the in-scope BC companies,
// extra-provincials and firms, co-ops and societies, and a few types the
// processor skips as out of scope (RLY, T, FI, LIB, PAR; the last three
// were out of scope before 2022 and in at HEAD).
var corpTypes = []corpType{
	{"BC", "BC", "BC COMPANY", "BC Company", 3800},
	{"ULC", "BC", "BC ULC COMPANY", "BC Unlimited Liability Company", 400},
	{"CC", "BC", "BC CCC", "BC Community Contribution Company", 100},
	{"BEN", "BC", "BC BENEFIT COMPANY", "BC Benefit Company", 300},
	{"C", "BC", "CONTINUE IN", "Continued In Company", 300},
	{"CUL", "BC", "ULC CONTINUE IN", "Continued In ULC", 50},
	{"A", "XPRO", "EXTRA PRO", "Extraprovincial Company", 1000},
	{"LLC", "XPRO", "XPRO LLC", "Extraprovincial Limited Liability Company", 100},
	{"XCP", "XPRO", "XPRO COOP", "Extraprovincial Cooperative Association", 50},
	{"XP", "FIRM", "XPRO LP", "Extraprovincial Limited Partnership", 150},
	{"XL", "FIRM", "XPRO LLP", "Extraprovincial Limited Liability Partnership", 50},
	{"LP", "FIRM", "LIMITED PARTNERSHIP", "Limited Partnership", 150},
	{"SP", "FIRM", "SOLE PROP", "Sole Proprietorship", 1600},
	{"GP", "FIRM", "PARTNERSHIP", "General Partnership", 1000},
	{"MF", "FIRM", "MISC FIRM", "Miscellaneous Firm", 100},
	{"CP", "COOP", "COOP", "BC Cooperative Association", 150},
	{"S", "SOC", "SOCIETY", "BC Society", 500},
	{"FI", "OT", "FINANCIAL", "Financial Institution", 30},
	{"LIB", "OT", "LIBRARY", "Public Library Association", 20},
	{"PAR", "OT", "PARISH", "Parish", 20},
	{"RLY", "OT", "RAILWAY", "Railway", 15},
	{"T", "OT", "TRUST", "Trust", 15},
}

// opStates is corp_op_state: the state type, its op state (ACT/HIS) and text.
var opStates = [][4]string{
	{"ACT", "ACT", "Active", "Active"},
	{"D1A", "ACT", "Dissolution 1 in progress", "Active - Dissolution for failure to file in progress"},
	{"LIQ", "ACT", "Liquidation", "Active - Liquidation"},
	{"D1F", "HIS", "Dissolved (failure to file)", "Historical - Dissolved for failure to file"},
	{"HDV", "HIS", "Dissolved (voluntary)", "Historical - Voluntary Dissolution"},
	{"HAM", "HIS", "Amalgamated", "Historical - Amalgamated"},
	{"HCO", "HIS", "Continued out", "Historical - Continued Out"},
	{"HWT", "HIS", "Withdrawn", "Historical - Withdrawn"},
	{"HLD", "HIS", "Liquidated", "Historical - Liquidated"},
}

// eventTypes is event_type: FILE events have a filing, CONV* events a
// conv_event row, the others neither.
var eventTypes = [][3]string{
	{"FILE", "FILE", "Filing"},
	{"CONVICORP", "CONV", "Conversion - Incorporation"},
	{"CONVAMAL", "CONV", "Conversion - Amalgamation"},
	{"CONVNC", "CONV", "Conversion - Name Change"},
	{"CONVL", "CONV", "Conversion - Ledger"},
	{"ADMIN", "ADMIN", "Administrative Correction"},
	{"SYSDF", "SYST", "System Dissolution - Failure to File"},
	{"SYSD1", "SYST", "System - Dissolution Notice"},
}

// filingTypes is filing_type. NOALB..NOALU are the notices of alteration
// whose name records blank entity_type in earlier REG credentials; NOALA
// is an alteration that does not.
var filingTypes = [][3]string{
	{"ICORP", "CORP", "Incorporation Application"},
	{"CONTI", "CORP", "Continuation In"},
	{"FRREG", "FIRM", "Registration Statement"},
	{"FRCHG", "FIRM", "Statement of Change"},
	{"FRDIS", "FIRM", "Statement of Dissolution"},
	{"REGXP", "XPRO", "Extraprovincial Registration"},
	{"XPCHG", "XPRO", "Extraprovincial Change"},
	{"XPWDL", "XPRO", "Extraprovincial Withdrawal"},
	{"CPINC", "COOP", "Cooperative Incorporation"},
	{"SOINC", "SOC", "Society Incorporation"},
	{"ANNBC", "CORP", "BC Annual Report"},
	{"CONVL", "CONV", "Conversion Ledger"},
	{"TRANS", "CORP", "Transition Application"},
	{"NOALA", "CORP", "Notice of Alteration"},
	{"NOALB", "CORP", "Notice of Alteration - Name (B)"},
	{"NOALC", "CORP", "Notice of Alteration - Name (C)"},
	{"NOALD", "CORP", "Notice of Alteration - Name (D)"},
	{"NOALE", "CORP", "Notice of Alteration - Name (E)"},
	{"NOALR", "CORP", "Notice of Alteration - Name (R)"},
	{"NOALU", "CORP", "Notice of Alteration - ULC"},
	{"NOCDR", "CORP", "Notice of Change of Directors"},
	{"NOCAD", "CORP", "Notice of Change of Address"},
	{"DISLV", "CORP", "Voluntary Dissolution"},
	{"AMALH", "CORP", "Amalgamation"},
	{"CONTO", "CORP", "Continuation Out"},
	{"RESTF", "CORP", "Full Restoration"},
}

var nameTypes = [][2]string{
	{"CO", "Corporation"},
	{"NB", "Number BC Company"},
	{"AS", "Assumed"},
	{"TR", "Translated"},
}

// jurisTypes is jurisdiction_type: provinces, FD (federal) and OT (other,
// described by othr_juris_desc).
var jurisTypes = [][2]string{
	{"BC", "British Columbia"}, {"AB", "Alberta"}, {"SK", "Saskatchewan"}, {"MB", "Manitoba"},
	{"ON", "Ontario"}, {"QC", "Quebec"}, {"NB", "New Brunswick"}, {"NS", "Nova Scotia"},
	{"PE", "Prince Edward Island"}, {"NL", "Newfoundland"}, {"YT", "Yukon"}, {"NT", "Northwest Territories"},
	{"NU", "Nunavut"}, {"FD", "Federal"}, {"OT", "Other"},
}

// officeTypes: RG, HD and FO are what the processor reads; RC (records)
// and AO (attorney) exist so the filter has something to leave out.
var officeTypes = [][2]string{
	{"RG", "Registered Office"}, {"RC", "Records Office"}, {"HD", "Head Office"},
	{"FO", "Firm Office"}, {"AO", "Attorney Office"},
}

var partyTypes = [][2]string{
	{"FBO", "Firm Business Owner"}, {"FIO", "Firm Individual Owner"}, {"DIR", "Director"},
	{"OFF", "Officer"}, {"INC", "Incorporator"},
}

// insertCodes fills the code tables, leaving rows already there alone (a
// source copy may hold more codes than we know). One statement per table.
func insertCodes(ctx context.Context, pool *pgxpool.Pool) error {
	type tab struct {
		name string
		cols string
		rows [][]string
	}
	var ct, os, et, ft, nt, jt, ot, pt [][]string
	for _, c := range corpTypes {
		ct = append(ct, []string{c.cd, "Y", c.class, c.short, c.full})
	}
	for _, s := range opStates {
		os = append(os, s[:])
	}
	for _, e := range eventTypes {
		et = append(et, []string{e[0], e[1], e[2], e[2]})
	}
	for _, f := range filingTypes {
		ft = append(ft, []string{f[0], f[1], f[2], f[2]})
	}
	for _, list := range []struct {
		src [][2]string
		dst *[][]string
	}{{nameTypes, &nt}, {jurisTypes, &jt}, {officeTypes, &ot}, {partyTypes, &pt}} {
		for _, r := range list.src {
			short := r[1] // jurisdiction_type.short_desc is VARCHAR(15)
			if len(short) > 15 {
				short = short[:15]
			}
			*list.dst = append(*list.dst, []string{r[0], short, r[1]})
		}
	}
	tabs := []tab{
		{"corp_type", "corp_typ_cd, colin_ind, corp_class, short_desc, full_desc", ct},
		{"corp_op_state", "state_typ_cd, op_state_typ_cd, short_desc, full_desc", os},
		{"event_type", "event_typ_cd, event_class, short_desc, full_desc", et},
		{"filing_type", "filing_typ_cd, filing_typ_class, short_desc, full_desc", ft},
		{"corp_name_type", "corp_name_typ_cd, short_desc, full_desc", nt},
		{"jurisdiction_type", "can_jur_typ_cd, short_desc, full_desc", jt},
		{"office_type", "office_typ_cd, short_desc, full_desc", ot},
		{"party_type", "party_typ_cd, short_desc, full_desc", pt},
	}
	for _, t := range tabs {
		var sb strings.Builder
		var args []any
		fmt.Fprintf(&sb, "INSERT INTO bc_registries.%s (%s) VALUES ", t.name, t.cols)
		for i, r := range t.rows {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(")
			for j, v := range r {
				if j > 0 {
					sb.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&sb, "$%d", len(args))
			}
			sb.WriteString(")")
		}
		sb.WriteString(" ON CONFLICT DO NOTHING")
		if _, err := pool.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("insert code table %s: %w", t.name, err)
		}
	}
	return nil
}
