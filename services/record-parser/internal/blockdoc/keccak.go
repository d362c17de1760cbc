package blockdoc

import (
	"encoding/binary"
	"math/bits"
)

// Keccak-256 as Ethereum uses it (the original Keccak padding, not
// SHA-3's): the hash of an Ethereum transaction and of the values in an
// EVM logs bloom. Small and slow enough for the few EVM transactions of a
// block; the dependency list has no Keccak.

var keccakRounds = [24]uint64{
	0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
	0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
	0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
	0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
	0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
	0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}

// keccakRotations are the rho offsets of lane x+5y.
var keccakRotations = [25]int{
	0, 1, 62, 28, 27,
	36, 44, 6, 55, 20,
	3, 10, 43, 25, 39,
	41, 45, 15, 21, 8,
	18, 2, 61, 56, 14,
}

func keccakF(a *[25]uint64) {
	var b [25]uint64
	var c, d [5]uint64
	for round := range 24 {
		for x := range 5 {
			c[x] = a[x] ^ a[x+5] ^ a[x+10] ^ a[x+15] ^ a[x+20]
		}
		for x := range 5 {
			d[x] = c[(x+4)%5] ^ bits.RotateLeft64(c[(x+1)%5], 1)
		}
		for i := range 25 {
			a[i] ^= d[i%5]
		}
		for x := range 5 {
			for y := range 5 {
				b[y+5*((2*x+3*y)%5)] = bits.RotateLeft64(a[x+5*y], keccakRotations[x+5*y])
			}
		}
		for y := range 5 {
			for x := range 5 {
				a[x+5*y] = b[x+5*y] ^ (^b[(x+1)%5+5*y] & b[(x+2)%5+5*y])
			}
		}
		a[0] ^= keccakRounds[round]
	}
}

// keccak256 is Keccak-256 of data.
func keccak256(data []byte) [32]byte {
	const rate = 136
	var a [25]uint64
	absorb := func(block []byte) {
		for i := range rate / 8 {
			a[i] ^= binary.LittleEndian.Uint64(block[8*i:])
		}
		keccakF(&a)
	}
	for len(data) >= rate {
		absorb(data[:rate])
		data = data[rate:]
	}
	var last [rate]byte
	copy(last[:], data)
	last[len(data)] ^= 0x01
	last[rate-1] ^= 0x80
	absorb(last[:])
	var out [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(out[8*i:], a[i])
	}
	return out
}

// bloomSize is an EVM logs bloom's size: 2048 bits.
const bloomSize = 256

// bloomAdd sets in bloom the three bits Ethereum's bloom filter sets for
// value: from the first three pairs of bytes of its Keccak-256, each taken
// mod 2048, counted from the bloom's last byte.
func bloomAdd(bloom *[bloomSize]byte, value []byte) {
	if len(value) == 0 {
		return
	}
	h := keccak256(value)
	for i := range 3 {
		bit := (int(h[2*i])<<8 | int(h[2*i+1])) & 0x7ff
		bloom[bloomSize-1-bit>>3] |= 1 << (bit & 7)
	}
}
