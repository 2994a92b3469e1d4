package knock

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"net/netip"
)

// v2KeyLabel is the HMAC message that derives a profile's v2 MAC key from
// its mac key.
const v2KeyLabel = "kk knock v2 mac key"

// v2MsgMax is the longest v2 MAC message: an IPv6 binding.
const v2MsgMax = 2 + 4 + 2 + 1 + 8

// Address family tags in the v2 MAC message.
const (
	tagIPv4 = 4
	tagIPv6 = 6
)

// ErrNoSource means a v2 knock was asked for without a valid source address.
var ErrNoSource = errors.New("v2 knock needs the source address the server sees")

// A Binding is what a v2 knock is bound to besides its port and counter:
// the knock port it is sent to and the source address the server sees.
// The zero value is invalid: Source must be set.
type Binding struct {
	KnockPort uint16
	Source    netip.Addr // IPv4 (or IPv4-mapped IPv6), or IPv6 of which only the /64 counts
}

// appendMsg appends the v2 MAC message for port and counter to dst.
func (b Binding) appendMsg(dst []byte, port uint16, counter uint32) []byte {
	dst = binary.BigEndian.AppendUint16(dst, port)
	dst = binary.BigEndian.AppendUint32(dst, counter)
	dst = binary.BigEndian.AppendUint16(dst, b.KnockPort)
	a := b.Source.Unmap()
	if a.Is4() {
		a4 := a.As4()
		return append(append(dst, tagIPv4), a4[:]...)
	}
	a16 := a.As16()
	return append(append(dst, tagIPv6), a16[:8]...)
}

// V2Key returns the MAC key of v2 knocks for k:
// HMAC-SHA1(k.MAC, "kk knock v2 mac key")[:16].
func V2Key(k *Keys) [16]byte {
	m := hmac.New(sha1.New, k.MAC[:])
	m.Write([]byte(v2KeyLabel))
	var key [16]byte
	copy(key[:], m.Sum(nil))
	return key
}

// EncodeV2 returns the v2 knock asking for port, sealed with counter and
// bound to b. It returns ErrNoSource if b.Source is not a valid address.
func EncodeV2(k *Keys, counter uint32, port uint16, b Binding) (Fields, error) {
	if !b.Source.IsValid() {
		return Fields{}, ErrNoSource
	}
	key := V2Key(k)
	var ks [16]byte
	keystream(newBlock(k), counter, &ks)
	var pt [Size]byte
	binary.BigEndian.PutUint16(pt[:], port)
	pt[2] = hmacPort(&key, port)[0]
	m := hmac.New(sha1.New, key[:])
	m.Write(b.appendMsg(make([]byte, 0, v2MsgMax), port, counter))
	copy(pt[3:], m.Sum(nil)[:v2MacLen])
	for i := range pt {
		pt[i] ^= ks[i]
	}
	return FieldsFromBytes(pt), nil
}

// v2MacLen is how many bytes of the bound MAC a v2 plaintext carries.
const v2MacLen = Size - 3
