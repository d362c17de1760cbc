// Package dms describes the files an AWS DMS S3 target endpoint writes,
// from the endpoint settings that change them. Every rule here comes from
// the AWS DMS user guide, "Using Amazon S3 as a target for AWS Database
// Migration Service" (sections named where each rule is used): the loader
// declares the endpoint's settings and checks each file against them, so a
// file DMS wrote under other settings stops its table instead of being
// loaded wrong.
package dms

import (
	"errors"
	"fmt"
	"strings"
)

// Settings are the endpoint settings that change what a file holds.
// The zero value is DMS's defaults.
type Settings struct {
	// IncludeOpForFullLoad: full-load rows start with an "I" field.
	IncludeOpForFullLoad bool
	// CdcInsertsOnly: change files hold inserts only; without
	// IncludeOpForFullLoad they carry no Op field at all.
	CdcInsertsOnly bool
	// CdcInsertsAndUpdates: change files hold inserts and updates, never
	// deletes.
	CdcInsertsAndUpdates bool
	// TimestampColumnName: an extra column, named so in the header, with
	// the time of the transfer (full load) or of the commit (CDC).
	TimestampColumnName string
	// AddColumnName: every file starts with a header row of column names.
	AddColumnName bool
	// CsvNullValue is the text that means NULL ("" = an empty unquoted
	// field).
	CsvNullValue string
	// UseCsvNoSupValue with CsvNoSupValue: a change row holds this text
	// for a column the source did not supply (not in the supplemental
	// log; LOB columns are the usual case). The column keeps its value.
	UseCsvNoSupValue bool
	CsvNoSupValue    string
	// BeforeImagePrefix/Suffix name the columns the table-mapping rule
	// add-before-image-columns (column-filter pk-only) adds: prefix +
	// key column + suffix, holding the key before an UPDATE.
	BeforeImagePrefix, BeforeImageSuffix string
	DatePartition                        DatePartition
}

// Validate checks the combinations the user guide rules out, and the
// ones the loader cannot read safely.
func (s Settings) Validate() error {
	var errs []error
	if s.CdcInsertsOnly && s.CdcInsertsAndUpdates {
		// "CdcInsertsOnly and CdcInsertsAndUpdates can't both be set to
		// true for the same endpoint."
		errs = append(errs, errors.New("DMS_CDC_INSERTS_ONLY and DMS_CDC_INSERTS_AND_UPDATES: DMS allows only one of them on an endpoint"))
	}
	if s.UseCsvNoSupValue && s.CsvNoSupValue == "" {
		// "If you do not specify a string value, DMS uses the null value
		// for these columns regardless of the UseCsvNoSupValue setting":
		// a column not supplied would then overwrite its value with NULL.
		errs = append(errs, errors.New("DMS_CSV_NO_SUP_VALUE: required with DMS_USE_CSV_NO_SUP_VALUE=true (without it DMS writes NULL for columns it did not capture, and their values would be lost)"))
	}
	if s.UseCsvNoSupValue && s.CsvNoSupValue == s.CsvNullValue {
		errs = append(errs, fmt.Errorf("DMS_CSV_NO_SUP_VALUE: %q is also CSV_NULL_VALUE; a column not supplied could not be told from NULL", s.CsvNoSupValue))
	}
	if strings.ContainsAny(s.CsvNoSupValue, "\"\r\n") || strings.ContainsAny(s.CsvNullValue, "\"\r\n") {
		errs = append(errs, errors.New("CSV_NULL_VALUE, DMS_CSV_NO_SUP_VALUE: must not contain quotes or line breaks"))
	}
	if s.TimestampColumnName != "" && strings.EqualFold(s.TimestampColumnName, "Op") {
		errs = append(errs, errors.New("DMS_TIMESTAMP_COLUMN_NAME: Op is the operation column"))
	}
	if err := s.DatePartition.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LoadHasOp says whether full-load rows start with an Op field ("I").
// User guide, "Indicating source DB operations in migrated S3 data":
// "For a full load when includeOpForFullLoad is true, AWS DMS always
// creates an additional first field in each .csv record."
func (s Settings) LoadHasOp() bool { return s.IncludeOpForFullLoad }

// CDCHasOp says whether change rows start with an Op field. Per the same
// section's tables, only CdcInsertsOnly without IncludeOpForFullLoad
// leaves it out; CdcInsertsAndUpdates keeps it (I or U) either way.
func (s Settings) CDCHasOp() bool { return !(s.CdcInsertsOnly && !s.IncludeOpForFullLoad) }

// CDCOps are the operations a change file may hold.
func (s Settings) CDCOps() string {
	switch {
	case s.CdcInsertsOnly:
		return "I"
	case s.CdcInsertsAndUpdates:
		return "IU"
	default:
		return "IUD"
	}
}

// NoSupValue is the "not supplied" marker of change rows, if DMS writes one.
func (s Settings) NoSupValue() (string, bool) {
	return s.CsvNoSupValue, s.UseCsvNoSupValue && s.CsvNoSupValue != ""
}

// BeforeImage reports whether change rows carry the key before the change.
func (s Settings) BeforeImage() bool { return s.BeforeImagePrefix != "" || s.BeforeImageSuffix != "" }

// BeforeImageName is the before-image column of key column col.
func (s Settings) BeforeImageName(col string) string {
	return s.BeforeImagePrefix + col + s.BeforeImageSuffix
}
