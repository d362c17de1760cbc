package esout

import (
	"bytes"
	"context"
	_ "embed"
	"time"
)

// The block index: one document per record file or block, shaped like the
// mirror node REST API's block object (/api/v1/blocks), in daily indices
// beside the transactions'.

//go:embed blocks_template.json
var blocksTemplate []byte

// BlocksTemplateName is the composable index template InstallBlocks puts.
const BlocksTemplateName = "hedera-blocks"

// BlocksTemplate returns the block index template's JSON (a copy).
func BlocksTemplate() []byte { return bytes.Clone(blocksTemplate) }

// BlocksIndexName is the daily block index of a file of that day:
// hedera-blocks-YYYY.MM.DD, UTC.
func BlocksIndexName(ns int64) string {
	return "hedera-blocks-" + time.Unix(0, ns).UTC().Format("2006.01.02")
}

// InstallBlocks puts the block index template, as Install does the
// transactions'.
func (o *Output) InstallBlocks(ctx context.Context) error {
	return o.putTemplate(ctx, BlocksTemplateName, blocksTemplate)
}
