package esout

import (
	"bytes"
	"context"
	_ "embed"
	"io"
	"net/http"
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
	what := "installing index template " + BlocksTemplateName
	status, body, err := o.call(ctx, what, func(ctx context.Context) (int, io.ReadCloser, error) {
		res, err := o.es.Indices.PutIndexTemplate(BlocksTemplateName, bytes.NewReader(blocksTemplate), o.es.Indices.PutIndexTemplate.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return res.StatusCode, res.Body, nil
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return answerError(what, status, body)
	}
	return nil
}
