package recordstream

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// nameLayout is the consensus time of a stream file's name: RFC 3339 in UTC
// with the colons replaced by underscores (object names avoid colons). The
// fraction has 6 digits in early files and 9 later.
const nameLayout = "2006-01-02T15_04_05.999999999Z"

// NameTime is the consensus time a stream file is named by, for any of
// record, signature and sidecar names, with or without a directory:
// "2022-07-13T08_46_11.304284003Z.rcd.gz", "…Z.rcd_sig", "…Z_01.rcd.gz".
func NameTime(name string) (time.Time, error) {
	base := path.Base(name)
	z := strings.IndexByte(base, 'Z')
	if z < 0 {
		return time.Time{}, fmt.Errorf("%s: not a record-stream name (no consensus time)", name)
	}
	t, err := time.Parse(nameLayout, base[:z+1])
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: not a record-stream name: %w", name, err)
	}
	return t, nil
}

// SidecarName is the name of sidecar id of the record file recordName:
// the record file's base name without ".rcd[.gz]", "_", the id in two
// digits, ".rcd.gz" (sidecars are always gzipped). It has no directory:
// sidecars live in sidecar/ beside the record file.
func SidecarName(recordName string, id int32) string {
	base := path.Base(recordName)
	base = strings.TrimSuffix(base, ".gz")
	base = strings.TrimSuffix(base, ".rcd")
	return fmt.Sprintf("%s_%02d.rcd.gz", base, id)
}
