package knock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
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
// holds them all in a hash map keyed by their first 8 bytes: checking a
// knock is one map lookup whatever the window, and a hit is confirmed by
// recomputing its 12 bytes. A Set accepts exactly the knocks
// Encode(k, counter, port) for counters in the window and ports in the
// list; a counter below the window (already used) is never in the map.
//
// When the counter moves, only the counters leaving and entering the window
// are computed (one AES each); a jump of a whole window rebuilds it.
//
// The zero value is not usable; call NewSet. A Set is unsafe for concurrent
// use.
type Set struct {
	block  cipher.Block
	ports  []uint16
	pts    [][Size]byte // plaintext for each port
	window uint64
	base   uint64              // next unused counter, the oldest in the map
	knocks map[uint64]uint64   // first 8 knock bytes → counter<<16 | port index
	ks     [aes.BlockSize]byte // scratch for a keystream
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
	s := &Set{block: newBlock(k), window: uint64(window), base: counter,
		knocks: make(map[uint64]uint64, window*len(ports))}
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
func (s *Set) Len() int { return len(s.knocks) }

// Match reports whether f is the knock for one of the Set's ports and one
// of the window's counters. If so it returns that port and counter. Match
// does not change the Set: the caller persists used+1 and then calls
// Advance.
func (s *Set) Match(f Fields) (port uint16, used uint32, ok bool) {
	v, ok := s.knocks[prefix(f)]
	if !ok {
		return 0, 0, false
	}
	c, i := v>>16, int(v&0xffff)
	want := s.knock(c, i)
	got := f.Bytes()
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return 0, 0, false
	}
	return s.ports[i], uint32(c), true
}

// Advance moves the window so that next is the oldest counter accepted. It
// does nothing if next is not ahead of the current counter.
func (s *Set) Advance(next uint64) {
	if next <= s.base {
		return
	}
	if next-s.base >= s.window {
		clear(s.knocks)
		for c := next; c < next+s.window; c++ {
			s.add(c)
		}
		s.base = next
		return
	}
	for c := s.base; c < next; c++ {
		s.remove(c)
	}
	for c := s.base + s.window; c < next+s.window; c++ {
		s.add(c)
	}
	s.base = next
}

// add puts counter c's knocks into the map. Two knocks sharing 8 bytes
// (odds about (window × ports)² × 2^-65) keep the older one; the newer is
// then refused and the client's next knock gets through.
func (s *Set) add(c uint64) {
	if c > MaxCounter {
		return
	}
	ks := s.keystream(c)
	for i := range s.pts {
		key := prefix(xor(&s.pts[i], &ks))
		if _, taken := s.knocks[key]; !taken {
			s.knocks[key] = c<<16 | uint64(i)
		}
	}
}

// remove takes counter c's knocks out of the map.
func (s *Set) remove(c uint64) {
	if c > MaxCounter {
		return
	}
	ks := s.keystream(c)
	for i := range s.pts {
		key := prefix(xor(&s.pts[i], &ks))
		if s.knocks[key] == c<<16|uint64(i) {
			delete(s.knocks, key)
		}
	}
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
