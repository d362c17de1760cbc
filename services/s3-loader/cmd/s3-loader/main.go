// Command s3-loader loads AWS DMS deliveries (full load and CDC) from S3
// into PostgreSQL, one transaction per file, and announces each on NATS.
package main

import (
	"context"

	"tributary.dev/libs/setup"
)

const summary = "loads AWS DMS deliveries (full load + CDC) from S3 into PostgreSQL and announces each on NATS"

func main() {
	var cfg Config
	setup.Main("s3-loader", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		return run(ctx, &cfg, env)
	})
}
