package knock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
)

// MaxWindow is the largest counter look-ahead a Verifier accepts.
const MaxWindow = 10000

// A Verifier checks knocks for one profile against the counters
// c … c+window-1, where c is the next unused counter.
//
// It keeps the window's keystreams (recomputed only when the counter moves)
// and a 64 KiB table holding the first byte of HMAC(port) for each port.
// A candidate slot is compared against the table first; the full HMAC runs
// only when that byte matches (one slot in 256 for garbage), so a garbage
// knock costs a few nanoseconds per slot instead of an AES and an HMAC.
// One byte rather than two keeps a monitor with a hundred profiles small.
//
// The table is filled lazily, a port the first time a slot decrypts to it:
// filling it whole costs 65,536 HMACs (15-20 ms), which a profile that sees
// a few knocks never pays back, and which delayed its first knock. Filling
// on demand computes each port's byte at most once, as the eager table did,
// and no more than the slots actually tried.
//
// A v2 Verifier (NewVerifierV2) works the same way with the v2 key: its
// table holds the check byte, HMAC(v2 key, port)[0], which needs no source
// address, so a garbage v2 knock costs what a v1 one does; only a candidate
// that passes it pays for the bound MAC.
//
// The zero value is not usable; call NewVerifier or NewVerifierV2. A
// Verifier is unsafe for concurrent use.
type Verifier struct {
	block cipher.Block
	mac   hash.Hash // keyed with the mac key (v1) or the v2 key
	v2    bool
	in    []byte              // scratch for the MAC input, kept to avoid an allocation per call
	sum   []byte              // scratch for the MAC output
	ks    [aes.BlockSize]byte // scratch for a keystream

	filter *[1 << 16]byte   // first MAC byte, indexed by port, where known
	known  *[1 << 10]uint64 // bit set of the ports whose filter byte is filled

	base  uint64    // counter of the oldest slot
	start int       // ring index of the slot for base
	head  []uint32  // first 4 keystream bytes of each slot, big-endian
	tail  [][8]byte // keystream bytes 4..11 of each slot
}

// NewVerifier returns a Verifier for keys k whose next unused counter is
// counter, looking ahead window counters.
func NewVerifier(k *Keys, counter uint64, window int) (*Verifier, error) {
	return newVerifier(k, k.MAC, false, counter, window)
}

// NewVerifierV2 is NewVerifier for v2 knocks, which MatchFrom checks
// against a Binding.
func NewVerifierV2(k *Keys, counter uint64, window int) (*Verifier, error) {
	return newVerifier(k, V2Key(k), true, counter, window)
}

func newVerifier(k *Keys, macKey [16]byte, v2 bool, counter uint64, window int) (*Verifier, error) {
	if window < 1 || window > MaxWindow {
		return nil, fmt.Errorf("error window %d out of range 1-%d", window, MaxWindow)
	}
	if counter > MaxCounter+1 {
		return nil, fmt.Errorf("counter %d: %w", counter, ErrCounterExhausted)
	}
	v := &Verifier{
		block:  newBlock(k),
		mac:    hmac.New(sha1.New, macKey[:]),
		v2:     v2,
		in:     make([]byte, 0, v2MsgMax),
		sum:    make([]byte, 0, sha1.Size),
		filter: new([1 << 16]byte),
		known:  new([1 << 10]uint64),
		head:   make([]uint32, window),
		tail:   make([][8]byte, window),
	}
	v.base = counter
	for i := range window {
		v.fill(i, counter+uint64(i))
	}
	return v, nil
}

// Counter returns the next unused counter.
func (v *Verifier) Counter() uint64 { return v.base }

// Window returns how many counters the Verifier looks ahead.
func (v *Verifier) Window() int { return len(v.head) }

// fill computes the keystream for counter into ring slot i. Slots past
// MaxCounter are never consulted, so they are left as they are.
func (v *Verifier) fill(i int, counter uint64) {
	if counter > MaxCounter {
		return
	}
	ks := &v.ks
	keystream(v.block, uint32(counter), ks)
	v.head[i] = binary.BigEndian.Uint32(ks[:])
	copy(v.tail[i][:], ks[4:Size])
}

// Match reports whether f is a valid knock for one of the window's
// counters. If so it returns the requested port and the counter that
// sealed it. Match does not change the Verifier: the caller persists
// used+1 and then calls Advance. A v2 Verifier matches nothing here: use
// MatchFrom.
func (v *Verifier) Match(f Fields) (port uint16, used uint32, ok bool) {
	if v.v2 {
		return 0, 0, false
	}
	return v.match(f, Binding{})
}

// MatchFrom is Match for a knock that arrived on b.KnockPort from
// b.Source. A v1 Verifier ignores b; a v2 one accepts only a knock bound
// to b (for IPv6, to b.Source's /64).
func (v *Verifier) MatchFrom(f Fields, b Binding) (port uint16, used uint32, ok bool) {
	if v.v2 && !b.Source.IsValid() {
		return 0, 0, false
	}
	return v.match(f, b)
}

func (v *Verifier) match(f Fields, b Binding) (port uint16, used uint32, ok bool) {
	head := uint32(f.ID)<<16 | f.Seq>>16
	n := uint64(len(v.head))
	if v.base+n > MaxCounter+1 {
		n = MaxCounter + 1 - v.base
	}
	for x := range n {
		i := v.start + int(x)
		if i >= len(v.head) {
			i -= len(v.head)
		}
		pt := head ^ v.head[i]
		port := uint16(pt >> 16)
		if v.known[port>>6]&(1<<(port&63)) == 0 {
			v.learn(port) // out of line: the loop stays small
		}
		if v.filter[port] != byte(pt>>8) {
			continue
		}
		if v.macMatches(f, i, uint16(pt>>16), uint32(v.base+x), b) {
			return uint16(pt >> 16), uint32(v.base + x), true
		}
	}
	return 0, 0, false
}

// learn fills in the filter byte of a port seen for the first time: the
// first byte of its MAC.
func (v *Verifier) learn(port uint16) {
	v.filter[port] = v.macPort(port)[0]
	v.known[port>>6] |= 1 << (port & 63)
}

// macMatches computes the full MAC for port and compares it, in constant
// time, with the ten MAC bytes f carries under slot i's keystream. For v2,
// the first of them is the check byte the filter already compared, and the
// other nine are the MAC bound to counter and b.
func (v *Verifier) macMatches(f Fields, i int, port uint16, counter uint32, bind Binding) bool {
	b := f.Bytes()
	var got [macLen]byte
	got[0] = b[2] ^ byte(v.head[i]>>8)
	got[1] = b[3] ^ byte(v.head[i])
	for j := range 8 {
		got[2+j] = b[4+j] ^ v.tail[i][j]
	}
	if v.v2 {
		return subtle.ConstantTimeCompare(got[1:], v.macBound(port, counter, bind)[:v2MacLen]) == 1
	}
	return subtle.ConstantTimeCompare(got[:], v.macPort(port)[:macLen]) == 1
}

// macBound returns the v2 MAC of port, counter and b in v's scratch space,
// valid until the next call.
func (v *Verifier) macBound(port uint16, counter uint32, b Binding) []byte {
	v.in = b.appendMsg(v.in[:0], port, counter)
	v.mac.Reset()
	v.mac.Write(v.in)
	v.sum = v.mac.Sum(v.sum[:0])
	return v.sum
}

// macPort returns HMAC-SHA1(macKey, port big-endian) in v's scratch space,
// valid until the next call.
func (v *Verifier) macPort(port uint16) []byte {
	v.in = binary.BigEndian.AppendUint16(v.in[:0], port)
	v.mac.Reset()
	v.mac.Write(v.in)
	v.sum = v.mac.Sum(v.sum[:0])
	return v.sum
}

// Advance moves the window so that next is the oldest counter tried. It
// does nothing if next is not ahead of the current counter.
func (v *Verifier) Advance(next uint64) {
	if next <= v.base {
		return
	}
	w := len(v.head)
	shift := next - v.base
	if shift >= uint64(w) {
		v.base, v.start = next, 0
		for i := range w {
			v.fill(i, next+uint64(i))
		}
		return
	}
	for range shift {
		// The oldest slot becomes the newest: base+w.
		v.fill(v.start, v.base+uint64(w))
		v.base++
		v.start++
		if v.start == w {
			v.start = 0
		}
	}
}

// StateSize returns the bytes of precomputed state the Verifier has
// allocated; the filter's pages become resident as ports are filled in.
func (v *Verifier) StateSize() int {
	return len(v.filter) + len(v.known)*8 + len(v.head)*4 + len(v.tail)*8
}
