package testdata

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Word lists for names and addresses. A few carry non-ASCII letters and
// apostrophes so the credential serializer meets \u escapes and quotes.
var (
	nameWords = []string{"PACIFIC", "CEDAR", "COAST", "NORTHERN", "FRASER", "ISLAND", "MOUNTAIN", "HARBOUR",
		"RAVEN", "ORCA", "SALISH", "OKANAGAN", "KOOTENAY", "CARIBOO", "SKEENA", "GRANITE", "SILVER",
		"EVERGREEN", "TIDEWATER", "SUMMIT", "MAPLE", "ALDER", "SPRUCE", "COPPER", "BLUE HERON",
		"O'BRIEN", "MÜLLER", "CAFÉ ÉTOILE", "NORDSTRÖM", "D'ARCY", "LUMIÈRE", "\"THE\" BAKERY"}
	nameNouns = []string{"HOLDINGS", "ENTERPRISES", "VENTURES", "CONSULTING", "SERVICES", "DEVELOPMENTS",
		"TRADING", "LOGISTICS", "CONSTRUCTION", "TECHNOLOGIES", "PROPERTIES", "FISHERIES", "FORESTRY",
		"DESIGN", "SYSTEMS", "MEDIA", "FOODS", "MARINE", "ENERGY", "GROUP"}
	firstNames = []string{"JOHN", "MARY", "WEI", "PRIYA", "LIAM", "OLIVIA", "NOAH", "EMMA", "HIROSHI",
		"AMÉLIE", "JOSÉ", "FATIMA", "GURPREET", "SARAH", "DAVID", "MEI"}
	lastNames = []string{"SMITH", "NGUYEN", "SINGH", "WONG", "BROWN", "TREMBLAY", "MACDONALD", "LEE",
		"O'NEILL", "GARCÍA", "CHEN", "WILSON", "PATEL", "DUBOIS", "KIM", "JOHNSON"}
	streetNames = []string{"MAIN", "GRANVILLE", "KINGSWAY", "DOUGLAS", "FORT", "BROADWAY", "HASTINGS",
		"GEORGIA", "OAK", "FIR", "COMMERCIAL", "MARINE", "LONSDALE", "YATES"}
	streetTypes = []string{"ST", "AVE", "RD", "DR", "BLVD", "WAY"}
	bcCities    = []string{"VANCOUVER", "VICTORIA", "SURREY", "BURNABY", "KELOWNA", "DELTA", "RICHMOND",
		"NANAIMO", "KAMLOOPS", "PRINCE GEORGE", "ABBOTSFORD", "SQUAMISH", "TERRACE", "NELSON"}
	// othrJuris are othr_juris_desc values for can_jur_typ_cd OT; "" is
	// a NULL description (the credential then says OT).
	othrJuris = []string{"GB", "US, WA", "US, DE", "US, CA", "US, NY", "HK", "AU", ""}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// suffix is the legal ending a name of the class carries.
func suffix(r *rand.Rand, class string) string {
	switch class {
	case "BC", "XPRO":
		return pick(r, []string{" LTD.", " INC.", " CORP.", " LIMITED", " CORPORATION"})
	case "COOP":
		return " CO-OPERATIVE"
	case "SOC":
		return " SOCIETY"
	case "OT":
		return " TRUST COMPANY"
	}
	return ""
}

func newName(r *rand.Rand, class string) string {
	return pick(r, nameWords) + " " + pick(r, nameNouns) + suffix(r, class)
}

// srchName is the srch_nme COLIN keeps beside a name: upper case letters,
// digits and spaces, at most 35 characters.
func srchName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' {
			b.WriteRune(c)
		}
	}
	out := b.String()
	if len(out) > 35 {
		out = out[:35]
	}
	return out
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

func postalBC(r *rand.Rand) string {
	l := func() byte { return byte('A' + r.IntN(26)) }
	d := func() byte { return byte('0' + r.IntN(10)) }
	return string([]byte{'V', d(), l(), ' ', d(), l(), d()})
}

// place is where an address is.
type place struct{ city, province, country, postal string }

// placeFor is a head office in the corp's home jurisdiction, so an
// extra-provincial corp's HD address matches its jurisdiction row.
func placeFor(r *rand.Rand, jur, othr string) place {
	switch jur {
	case "ON", "FD":
		return place{"TORONTO", "ON", "CA", "M5V 2T6"}
	case "AB":
		return place{"CALGARY", "AB", "CA", "T2P 1J9"}
	case "MB":
		return place{"WINNIPEG", "MB", "CA", "R3C 4T3"}
	case "QC":
		return place{"MONTRÉAL", "QC", "CA", "H3B 2Y5"}
	case "SK":
		return place{"REGINA", "SK", "CA", "S4P 3Y2"}
	case "OT":
		switch othr {
		case "GB":
			return place{"LONDON", "", "GB", "EC1A 1BB"}
		case "US, WA":
			return place{"SEATTLE", "WA", "US", "98101"}
		case "US, DE":
			return place{"WILMINGTON", "DE", "US", "19801"}
		case "US, CA":
			return place{"SAN FRANCISCO", "CA", "US", "94105"}
		case "US, NY":
			return place{"NEW YORK", "NY", "US", "10001"}
		case "HK":
			return place{"HONG KONG", "", "HK", ""}
		case "AU":
			return place{"SYDNEY", "NS", "AU", "2000"}
		}
		return place{"ZÜRICH", "", "CH", "8001"}
	}
	return place{pick(r, bcCities), "BC", "CA", postalBC(r)}
}

// writeAddress writes one address row; about 5% have no first line but an
// address_desc (the civic_address fallback), and a few have no city.
func writeAddress(t *table, r *rand.Rand, id int64, p place) {
	t.int(id).opt(p.province).opt(p.country).opt(p.postal)
	civic := fmt.Sprintf("%d", 1+r.IntN(9999))
	street := pick(r, streetNames)
	typ := pick(r, streetTypes)
	city := p.city
	if r.Float64() < 0.01 {
		city = ""
	}
	if r.Float64() < 0.05 {
		t.null().null().null().opt(city).str("FOREIGN").str("RR " + digits(r, 1) + " SITE " + digits(r, 2) + ", " + p.city)
	} else {
		line2 := ""
		if r.Float64() < 0.2 {
			line2 = "SUITE " + digits(r, 3)
		}
		t.str(civic + " " + street + " " + typ).opt(line2).null().opt(city).str("BAS").null()
	}
	t.null().null().null().null().opt(civic).null().str(street).str(typ).null().null().null().null().null().null().null().null()
	t.end()
}

func between(r *rand.Rand, a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(r.Int64N(int64(b.Sub(a)/time.Second))) * time.Second)
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
