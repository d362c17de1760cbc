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

// keccakPi is, for lane x+5y, where rho and pi move it: y+5((2x+3y)%5).
var keccakPi = func() (p [25]int) {
	for x := range 5 {
		for y := range 5 {
			p[x+5*y] = y + 5*((2*x+3*y)%5)
		}
	}
	return p
}()

func keccakF(a *[25]uint64) {
	var b [25]uint64
	for round := range 24 {
		// theta
		c0 := a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
		c1 := a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
		c2 := a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
		c3 := a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
		c4 := a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
		d := [5]uint64{
			c4 ^ bits.RotateLeft64(c1, 1),
			c0 ^ bits.RotateLeft64(c2, 1),
			c1 ^ bits.RotateLeft64(c3, 1),
			c2 ^ bits.RotateLeft64(c4, 1),
			c3 ^ bits.RotateLeft64(c0, 1),
		}
		// theta, rho and pi
		for i := range 25 {
			b[keccakPi[i]] = bits.RotateLeft64(a[i]^d[i%5], keccakRotations[i])
		}
		// chi, row by row
		for y := 0; y < 25; y += 5 {
			b0, b1, b2, b3, b4 := b[y], b[y+1], b[y+2], b[y+3], b[y+4]
			a[y] = b0 ^ (^b1 & b2)
			a[y+1] = b1 ^ (^b2 & b3)
			a[y+2] = b2 ^ (^b3 & b4)
			a[y+3] = b3 ^ (^b4 & b0)
			a[y+4] = b4 ^ (^b0 & b1)
		}
		// iota
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
