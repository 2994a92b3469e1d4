// Package knock encodes and verifies knockknock requests: twelve bytes that
// travel in the header fields of a single TCP SYN.
//
// The format is byte-compatible with the original Python knockknock.
//
// Keystream for counter c (uint32):
//
//	keystream = AES-128-ECB(cipherKey, 00 00 00 00 00 00 00 00 00 00 00 00 | c3 c2 c1 c0)
//
// where c3..c0 is c big-endian. Only the first 12 bytes are used.
//
// Plaintext for port p (uint16):
//
//	offset  size  field
//	     0     2  p, big-endian
//	     2    10  HMAC-SHA1(macKey, p big-endian)[:10]
//
// Ciphertext, and where each byte travels (all big-endian):
//
//	offset  size  header field
//	     0     2  IPv4 ID; over IPv6, the low 16 bits of the flow label
//	     2     4  TCP sequence number
//	     6     4  TCP acknowledgement number
//	    10     2  TCP window
//
//	ciphertext = plaintext XOR keystream[:12]
//
// IPv6 has no ID field, so an IPv6 knock carries bytes 0-1 in the 20-bit
// flow label, top 4 bits 0 (flow label = 0x0XXXX); the kernel's LOG target
// prints it as FLOWLBL=. The other ten bytes travel as over IPv4, so a
// profile works over either family unchanged. A receiver refuses a flow
// label of 2^16 or more: no knock sets the top bits.
//
// A sender uses its counter and then persists counter+1. A receiver tries the
// counters c, c+1, … c+window-1 and accepts the first whose MAC matches; it
// then persists (matched counter)+1, so every counter is accepted at most
// once.
//
// Two receivers. A Verifier takes a knock for any port and tries each
// counter of a small window (error_window, 20 by default): a garbage knock
// costs a few ns per counter. A Set serves a profile that lists the ports
// it may ask for (allowed_ports): every knock it can accept is then known in
// advance, Encode(k, c, p) for each counter c in c … c+SetWindow-1 and each
// listed port p, so it holds them all in a hash map and a knock costs one
// lookup however wide the window. That makes a window of SetWindow (16,384)
// counters free, so a client that lost thousands of knocks gets in with its
// next one. Neither weakens replay protection: both hold only counters at
// or above the stored one, and the receiver stores used+1 before acting.
// Forgery odds per knock are window × 2^-80 for a Verifier (any port, an
// 80-bit MAC) and window × ports × 2^-96 for a Set (all 12 bytes fixed).
//
// # Version 2: knocks bound to the sender's address
//
// A v1 knock proves knowledge of the keys but not who sent it: an attacker
// on the path can drop it and send the same four fields from their own
// address, and be let in instead of the owner. A v2 knock (a profile with
// version = 2) is the same 12 bytes, in the same header fields, under the
// same keystream, but its plaintext is bound to the source address the
// server sees and to the knock port:
//
//	v2key = HMAC-SHA1(macKey, "kk knock v2 mac key")[:16]
//
//	offset  size  plaintext field
//	     0     2  p, big-endian
//	     2     1  check = HMAC-SHA1(v2key, p big-endian)[0]
//	     3     9  HMAC-SHA1(v2key, msg)[:9]
//
//	msg (13 or 17 bytes):
//	offset  size  field
//	     0     2  p, big-endian
//	     2     4  counter c, big-endian
//	     6     2  knock port (the SYN's destination port), big-endian
//	     8     1  address family: 4 or 6
//	     9   4/8  IPv4 source address, or the first 8 bytes of the IPv6
//	              source address (its /64); IPv4-mapped IPv6 counts as IPv4
//
// Why each part is there:
//   - The source address is the theft defence: the MAC holds for the
//     address the owner sent from, and an attacker who resends the fields
//     from elsewhere fails it. IPv6 binds the /64 because hosts rotate
//     privacy addresses inside their /64, and a site's /64 is as much as an
//     on-path attacker could claim anyway.
//   - The counter binds the MAC to this knock. v1's MAC covers only the
//     port, so a plaintext stays valid under every keystream; in v2 a
//     captured knock cannot be re-encrypted for another counter.
//   - The knock port keeps a knock for one profile's port from being
//     replayed to another port served with the same keys.
//   - The address family tag keeps a 4-byte and an 8-byte address from
//     ever giving the same message.
//   - v2key is derived, not v1's mac key, so no v1 MAC is ever a v2 MAC
//     or the other way round. HMAC-SHA1 as the derivation is the standard
//     library's HMAC already used here (one HKDF-Expand block with a fixed
//     label is the same construction), and is easy to reproduce
//     (testdata/v2vectors/make_vectors.py does, with Python and openssl).
//   - The check byte depends on the port only, so a Verifier keeps v1's
//     64 KiB first-byte table and rejects garbage without knowing the
//     source: only one candidate in 256 pays for the bound MAC. It costs
//     one MAC byte: a stolen knock resent from another address must guess
//     the 72-bit bound MAC (odds window × 2^-72 per try), and a blind
//     forgery all 80 bits, as in v1.
//
// A Set (allowed_ports) cannot precompute v2 knocks, which depend on the
// sender; a v2 profile is checked by its Verifier alone.
package knock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"math"
)

// Size is the length of an encoded knock in bytes.
const Size = 12

// macLen is how many bytes of HMAC-SHA1 the plaintext carries.
const macLen = 10

// MaxCounter is the largest counter a knock can carry.
const MaxCounter = math.MaxUint32

// ErrCounterExhausted means the counter would pass MaxCounter. Counters never
// wrap, because a wrapped counter would make old knocks valid again.
var ErrCounterExhausted = errors.New("knock counter exhausted (would pass 4294967295); generate a new profile")

// Keys are a profile's two 128-bit keys.
type Keys struct {
	Cipher [16]byte
	MAC    [16]byte
}

// Fields are the four packet header fields that carry a knock.
type Fields struct {
	ID     uint16 // IPv4 identification
	Seq    uint32 // TCP sequence number
	Ack    uint32 // TCP acknowledgement number
	Window uint16 // TCP window
}

// Bytes returns the 12 ciphertext bytes carried by f.
func (f Fields) Bytes() [Size]byte {
	var b [Size]byte
	binary.BigEndian.PutUint16(b[0:], f.ID)
	binary.BigEndian.PutUint32(b[2:], f.Seq)
	binary.BigEndian.PutUint32(b[6:], f.Ack)
	binary.BigEndian.PutUint16(b[10:], f.Window)
	return b
}

// FieldsFromBytes splits 12 ciphertext bytes into header fields.
func FieldsFromBytes(b [Size]byte) Fields {
	return Fields{
		ID:     binary.BigEndian.Uint16(b[0:]),
		Seq:    binary.BigEndian.Uint32(b[2:]),
		Ack:    binary.BigEndian.Uint32(b[6:]),
		Window: binary.BigEndian.Uint16(b[10:]),
	}
}

// Encode returns the knock asking for port, sealed with counter.
func Encode(k *Keys, counter uint32, port uint16) Fields {
	var ks [aes.BlockSize]byte
	keystream(newBlock(k), counter, &ks)
	var pt [Size]byte
	binary.BigEndian.PutUint16(pt[:], port)
	sum := hmacPort(&k.MAC, port)
	copy(pt[2:], sum[:macLen])
	for i := range pt {
		pt[i] ^= ks[i]
	}
	return FieldsFromBytes(pt)
}

func newBlock(k *Keys) cipher.Block {
	b, err := aes.NewCipher(k.Cipher[:])
	if err != nil {
		panic("knock: AES-128 rejected a 16-byte key: " + err.Error())
	}
	return b
}

// keystream fills ks with AES(cipherKey, 12 zero bytes | counter).
//
// It encrypts in place: a separate input block would escape through the
// cipher.Block interface and cost an allocation per call, which a Set makes
// 16,384 times when it is built. Callers that run often pass a ks that
// lives in their own heap object (Verifier.ks, Set.ks).
func keystream(block cipher.Block, counter uint32, ks *[aes.BlockSize]byte) {
	*ks = [aes.BlockSize]byte{}
	binary.BigEndian.PutUint32(ks[12:], counter)
	block.Encrypt(ks[:], ks[:])
}

// hmacPort returns HMAC-SHA1(key, port big-endian). It is crypto/hmac
// written out for a 16-byte key and a 2-byte message, so that it needs no
// allocation; a test checks it against crypto/hmac.
func hmacPort(key *[16]byte, port uint16) [sha1.Size]byte {
	var buf [sha1.BlockSize + sha1.Size]byte
	pad(&buf, key, 0x36)
	binary.BigEndian.PutUint16(buf[sha1.BlockSize:], port)
	inner := sha1.Sum(buf[:sha1.BlockSize+2])
	pad(&buf, key, 0x5c)
	copy(buf[sha1.BlockSize:], inner[:])
	return sha1.Sum(buf[:])
}

func pad(buf *[sha1.BlockSize + sha1.Size]byte, key *[16]byte, b byte) {
	for i := range sha1.BlockSize {
		buf[i] = b
	}
	for i, k := range key {
		buf[i] ^= k
	}
}
