//go:build faults

package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/target"
)

// installFaults sets the crash tests' fault points from FAULT_* variables.
// This file is only compiled with -tags faults: the production binary
// has no such variables, so no stray setting can hang it.
//
//	FAULT_PAUSE_BEFORE_COMMIT=true   stop for good just before a delivery commits
//	FAULT_PAUSE_AFTER_PUBLISH=true   stop for good after a notification is published, before it is marked sent
func installFaults(l *loader.Loader, p *notify.Publisher) {
	if os.Getenv("FAULT_PAUSE_BEFORE_COMMIT") == "true" {
		l.BeforeCommit = func(d *target.Delivery) { pause("before commit of delivery %d", d.ID) }
	}
	if p != nil && os.Getenv("FAULT_PAUSE_AFTER_PUBLISH") == "true" {
		p.AfterPublish = func(id int64) { pause("after publish of delivery %d", id) }
	}
}

// pause says where it stopped (the test waits for the line, then kills
// the process) and never returns.
func pause(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAULT pause "+format+"\n", args...)
	time.Sleep(math.MaxInt64)
}
