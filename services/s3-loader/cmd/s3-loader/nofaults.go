//go:build !faults

package main

import (
	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/notify"
)

// installFaults does nothing in the production build: fault points exist
// only in a binary built with -tags faults (see faults.go).
func installFaults(*loader.Loader, *notify.Publisher) {}
