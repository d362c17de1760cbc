package creds

// What Generate expects of the loaded model.Corp (internal/colin):
//
//   - Events holds every event any row starts or ends with, parties'
//     events included. A missing one holds the corp back (the original
//     raised on it). Event.Effective is not read: the original resolved
//     effective dates per row (firm trigger_dts only for state and party
//     events), so Generate resolves them itself from Timestamp, Trigger,
//     FilingTypeCd/FilingEffective and ConvEffective.
//   - FilingTypeCd is set for FILE events that have a filing row. The
//     original joined filing_type and so treated a filing whose type is
//     not in that code table as no filing; internal/colin keeps it (an
//     unknown code is loaded as it is), a difference only for such rows.
//   - States carry OpState from corp_op_state; "" (no op-state row) drops
//     the row, as the original's join did.
//   - Class is corp_type.corp_class; "" means no corp_type row, which
//     holds the corp back once a REG is due.
//   - Names are ordered by corp_name_seq_num here (the original read them
//     in table order). Jurisdictions, states and parties are sorted here
//     as the original sorted them; offices and parties keep the given
//     order on ties, so the loader should give them in a stable order
//     (by start event id).
//   - Party.Other is the firm's corporation row (type, recognition date);
//     nil when that row is missing (no REL then, as in the original).
//     Only FBO parties are read.
//   - Office.Delivery nil with DeliveryAddrID set is a broken link: no
//     ADDR for that office and a Warning, the rest of the corp as usual.
//
// Deliberate differences from COLIN-2022:
//
//   - The scope check comes first: an out-of-scope corp is skipped ('S')
//     even when its rows are broken; the original loaded everything first
//     and failed such a corp with 'N'.
//   - Dates: pytz 2024.2 (see package pacific), so times before
//     1901-12-13 are local mean time (-7:53) and MIN_START_DATE prints as
//     0002-01-01T07:53:00+00:00; an older pytz printed 08:00 there.
//
// These were checked by running the original's loader and generator on
// the same rows (through its sqlite cache) for two thousand random corps:
// identical credential JSON, reasons, ids, requeue windows and outcomes.
