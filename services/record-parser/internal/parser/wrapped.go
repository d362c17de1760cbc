package parser

import (
	"fmt"

	"tributary.dev/libs/blockstream"
	"tributary.dev/services/record-parser/internal/intake"
)

// decodeWrapped reads a wrapped record block as the record file it
// carries.
func (p *Parser) decodeWrapped(job intake.Job, b *blockstream.Block, root []byte, alg blockstream.Algorithm) (*decoded, error) {
	return nil, &transient{"read", fmt.Errorf("%s: block %d is a wrapped record block, which this version does not read yet", job.Rel(), b.Number())}
}
