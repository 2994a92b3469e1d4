package knock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// SetWindow is the counter look-ahead of a Set: how many lost knocks a
// profile with allowed_ports recovers from. It is larger than MaxWindow so
// that a gap of 10,000 knocks, plus the few counters a client skips, is
// recovered.
const SetWindow = 1 << 14

// MaxSetPorts is the most ports a Set takes; it bounds a Set's memory at
// SetWindow × MaxSetPorts entries.
const MaxSetPorts = 16

// A Set checks knocks for one profile whose requestable ports are known in
// advance. Every knock it can accept, one per (counter, port) pair with the
// counter in c … c+SetWindow-1, is fully determined by the keys, so the Set
// holds them all in a hash table keyed by their first 8 bytes: checking a
// knock is one lookup whatever the window, and a hit is confirmed by
// recomputing its 12 bytes. A Set accepts exactly the knocks
// Encode(k, counter, port) for counters in the window and ports in the
// list; a counter below the window (already used) is never in the table.
//
// When the counter moves, only the counters leaving and entering the window
// are computed (one AES each); a jump of a whole window rebuilds it.
//
// The table is open addressing over 32-bit slots rather than a Go map of
// 8-byte keys: a slot holds the entry's number (its counter's place in the
// window and its port) and as many further bits of the key as fit, which
// reject almost every other key without an AES. A Set of 16,384 counters ×
// 3 ports takes 256 KiB instead of 1.1 MiB, and builds several times
// faster, so that a profile's first knock waits less for it.
//
// The zero value is not usable; call NewSet. A Set is unsafe for concurrent
// use.
type Set struct {
	block  cipher.Block
	ports  []uint16
	pts    [][Size]byte // plaintext for each port
	window uint64
	base   uint64 // next unused counter, the oldest in the table

	// slots is the table: 0 for an empty slot, else tag<<entryBits | e+1,
	// where entry e = (counter % window)*len(ports) + port index and tag is
	// the key's bits above its slot index. Collisions probe linearly.
	slots     []uint32
	mask      uint64              // len(slots) - 1
	slotBits  uint                // log2(len(slots))
	entryBits uint                // bits of e+1
	n         int                 // entries in the table
	ks        [aes.BlockSize]byte // scratch for a keystream
}

// NewSet returns a Set for keys k whose next unused counter is counter,
// accepting knocks for the given ports (1 to MaxSetPorts of them, none 0)
// with counters up to window-1 ahead.
func NewSet(k *Keys, counter uint64, window int, ports []uint16) (*Set, error) {
	if window < 1 || window > 1<<20 {
		return nil, fmt.Errorf("set window %d out of range 1-%d", window, 1<<20)
	}
	if len(ports) == 0 || len(ports) > MaxSetPorts {
		return nil, fmt.Errorf("%d allowed ports, want 1-%d", len(ports), MaxSetPorts)
	}
	if counter > MaxCounter+1 {
		return nil, fmt.Errorf("counter %d: %w", counter, ErrCounterExhausted)
	}
	s := &Set{block: newBlock(k), window: uint64(window), base: counter}
	for _, p := range ports {
		if p == 0 {
			return nil, fmt.Errorf("allowed port 0 is outside 1-65535")
		}
		var pt [Size]byte
		binary.BigEndian.PutUint16(pt[:], p)
		sum := hmacPort(&k.MAC, p)
		copy(pt[2:], sum[:macLen])
		s.ports = append(s.ports, p)
		s.pts = append(s.pts, pt)
	}
	entries := window * len(ports)
	s.entryBits = uint(bits.Len(uint(entries)))
	// At most 3/4 full, so that a miss (every garbage knock) probes a few
	// slots of one cache line (and never full, or a miss would probe forever).
	s.slotBits = uint(bits.Len(uint(max(entries*4/3, entries+1) - 1)))
	s.slots = make([]uint32, 1<<s.slotBits)
	s.mask = uint64(len(s.slots) - 1)
	for c := counter; c < counter+s.window; c++ {
		s.add(c)
	}
	return s, nil
}

// Counter returns the next unused counter.
func (s *Set) Counter() uint64 { return s.base }

// Window returns how many counters the Set looks ahead.
func (s *Set) Window() int { return int(s.window) }

// Len returns how many knocks the Set holds.
func (s *Set) Len() int { return s.n }

// Match reports whether f is the knock for one of the Set's ports and one
// of the window's counters. If so it returns that port and counter. Match
// does not change the Set: the caller persists used+1 and then calls
// Advance.
func (s *Set) Match(f Fields) (port uint16, used uint32, ok bool) {
	key := prefix(f)
	tag := s.tag(key)
	for i := key & s.mask; ; i = (i + 1) & s.mask {
		v := s.slots[i]
		if v == 0 {
			return 0, 0, false
		}
		if v>>s.entryBits != tag {
			continue
		}
		c, p := s.entry(v)
		want := s.knock(c, p)
		got := f.Bytes()
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return s.ports[p], uint32(c), true
		}
	}
}

// Advance moves the window so that next is the oldest counter accepted. It
// does nothing if next is not ahead of the current counter.
func (s *Set) Advance(next uint64) {
	if next <= s.base {
		return
	}
	if next-s.base >= s.window {
		clear(s.slots)
		s.n = 0
		s.base = next
		for c := next; c < next+s.window; c++ {
			s.add(c)
		}
		return
	}
	for ; s.base < next; s.base++ {
		// Counter base leaves the window and base+window takes its
		// entries' numbers.
		s.remove(s.base)
		s.add(s.base + s.window)
	}
}

// tag returns the bits of key that a slot keeps beside its entry number:
// those above the bits that chose its slot.
func (s *Set) tag(key uint64) uint32 {
	return uint32(key>>s.slotBits) & (1<<(32-s.entryBits) - 1)
}

// entry returns the counter and port index of slot value v. The counter is
// the one in the window whose place is the entry's.
func (s *Set) entry(v uint32) (counter uint64, port int) {
	e := uint64(v&(1<<s.entryBits-1)) - 1
	n := uint64(len(s.ports))
	place := e / n
	counter = s.base + (place+s.window-s.base%s.window)%s.window
	return counter, int(e % n)
}

// add puts counter c's knocks into the table; c must be in the window as it
// will be once c is added. Counters past MaxCounter have no knocks.
func (s *Set) add(c uint64) {
	if c > MaxCounter {
		return
	}
	ks := s.keystream(c)
	for p := range s.pts {
		key := prefix(xor(&s.pts[p], &ks))
		e := (c%s.window)*uint64(len(s.pts)) + uint64(p)
		i := key & s.mask
		for s.slots[i] != 0 {
			i = (i + 1) & s.mask
		}
		s.slots[i] = s.tag(key)<<s.entryBits | uint32(e+1)
		s.n++
	}
}

// remove takes counter c's knocks out of the table; c must be the oldest
// counter of the window. The entries after a removed one that probed past
// it move back, so that lookups need no tombstones.
func (s *Set) remove(c uint64) {
	if c > MaxCounter {
		return
	}
	ks := s.keystream(c)
	for p := range s.pts {
		key := prefix(xor(&s.pts[p], &ks))
		want := uint32((c%s.window)*uint64(len(s.pts))+uint64(p)) + 1
		i := key & s.mask
		for s.slots[i]&(1<<s.entryBits-1) != want {
			if s.slots[i] == 0 {
				panic("knock: Set lost a knock of its window")
			}
			i = (i + 1) & s.mask
		}
		s.deleteSlot(i)
		s.n--
	}
}

// deleteSlot empties slot i, moving back each following entry of the run
// whose home slot is not between i and its own slot.
func (s *Set) deleteSlot(i uint64) {
	for j := (i + 1) & s.mask; s.slots[j] != 0; j = (j + 1) & s.mask {
		home := s.home(s.slots[j])
		// The entry at j may stay if its home is cyclically in (i, j].
		if (j-home)&s.mask < (j-i)&s.mask {
			continue
		}
		s.slots[i] = s.slots[j]
		i = j
	}
	s.slots[i] = 0
}

// home returns the slot that entry v's key hashes to, recomputing its knock.
func (s *Set) home(v uint32) uint64 {
	c, p := s.entry(v)
	ks := s.keystream(c)
	return prefix(xor(&s.pts[p], &ks)) & s.mask
}

// knock returns the knock for counter c and port index i.
func (s *Set) knock(c uint64, i int) [Size]byte {
	ks := s.keystream(c)
	b := xor(&s.pts[i], &ks)
	return b.Bytes()
}

func (s *Set) keystream(c uint64) [aes.BlockSize]byte {
	keystream(s.block, uint32(c), &s.ks)
	return s.ks
}

func xor(pt *[Size]byte, ks *[aes.BlockSize]byte) Fields {
	var b [Size]byte
	for j := range b {
		b[j] = pt[j] ^ ks[j]
	}
	return FieldsFromBytes(b)
}

// prefix returns a knock's first 8 bytes: IPv4 ID, TCP SEQ and half the ACK.
func prefix(f Fields) uint64 {
	return uint64(f.ID)<<48 | uint64(f.Seq)<<16 | uint64(f.Ack>>16)
}
