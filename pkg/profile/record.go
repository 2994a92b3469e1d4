package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// RecordFile is a server profile's counter record, beside its state counter
// in stateDir/<name>/: the fast, durable copy of the counter that Accept
// writes before kk-monitor asks for the opening.
//
// Why a second file. The state counter (text, the original's format, what
// an operator reads or copies back to a client) is replaced crash-safely:
// temporary file, fsync, rename, directory fsync. That is two journal
// commits on ext4 and costs 3-5 ms on an idle disk, tens of ms on a busy
// one, in front of every opening. The record is preallocated once and then
// only overwritten in place: one pwrite and one fdatasync, which on a file
// whose size and blocks do not change commits no metadata (fdatasync skips
// the mtime), measured at a tenth of the rename's cost.
//
// Why it is as safe. The record holds two slots, each in its own 4 KiB
// block so that a write torn by a power cut (even one that damages its
// whole physical sector) can only hit the slot being written. A slot is
// magic, a sequence number, the next unused counter and a CRC-32C over
// them. A write goes to the slot not holding the newest valid sequence;
// the reader takes the valid slot with the highest sequence. So after a
// crash at any point the record reads as the value before the write in
// flight or the value it wrote, never less, never garbage: a torn slot
// fails its CRC and the other slot, untouched, still holds the previous
// value. Accept returns only after fdatasync, and kk-monitor asks for the
// opening only after Accept returns, so the counter of every opening is
// on disk before the opening (TestCounterSavedBeforeOpen,
// TestRecordWriteOrder, TestRecordTornWrite).
//
// The state counter text file follows the record (SyncCounterFile, which
// kk-monitor calls a few seconds after a knock, for all the knocks since,
// and when it stops): readers take the larger of the two, so a crash in
// between loses nothing; the text file only lags, by the knocks since its
// last write, until the next one. A missing record (an older kk, or a new profile) is created
// whole by the atomic temporary-file write, once.
const RecordFile = "counter.rec"

const (
	recSlot   = 4096        // bytes per slot: a slot per block
	recSize   = 2 * recSlot // the whole record file
	recMagic  = "kkc1"      // format and version
	recBody   = 4 + 8 + 8   // magic, sequence, next counter
	recLength = recBody + 4 // with the CRC-32C
	recPerm   = fs.FileMode(0o600)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// A record slot's contents.
type record struct {
	seq  uint64 // higher is newer; 0 only in a never-written slot
	next uint64 // the next unused counter
}

// encodeSlot returns the bytes of a slot holding r.
func encodeSlot(r record) []byte {
	b := make([]byte, recLength)
	copy(b, recMagic)
	binary.LittleEndian.PutUint64(b[4:], r.seq)
	binary.LittleEndian.PutUint64(b[12:], r.next)
	binary.LittleEndian.PutUint32(b[recBody:], crc32.Checksum(b[:recBody], castagnoli))
	return b
}

// decodeSlot reads a slot; ok is false for a slot never written or torn.
func decodeSlot(b []byte) (r record, ok bool) {
	if len(b) < recLength || string(b[:4]) != recMagic ||
		binary.LittleEndian.Uint32(b[recBody:]) != crc32.Checksum(b[:recBody], castagnoli) {
		return record{}, false
	}
	return record{seq: binary.LittleEndian.Uint64(b[4:]), next: binary.LittleEndian.Uint64(b[12:])}, true
}

// decodeRecord returns the newest valid slot of a whole record file and the
// index of the slot the next write goes to.
func decodeRecord(data []byte) (r record, nextSlot int, ok bool) {
	a, aok := decodeSlot(data[:recSlot])
	b, bok := decodeSlot(data[recSlot:])
	switch {
	case aok && (!bok || a.seq > b.seq):
		return a, 1, true
	case bok:
		return b, 0, true
	}
	return record{}, 0, false
}

// recordPath is the record of a server profile.
func (p *Profile) recordPath() string { return filepath.Join(p.counterDir, RecordFile) }

// openRecord opens the record without following a symlink and checks it
// as every profile file is checked; found is false if it does not exist.
func (p *Profile) openRecord(flag int) (f *os.File, found bool, err error) {
	path := p.recordPath()
	f, err = os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case errors.Is(err, syscall.ELOOP):
		return nil, true, fmt.Errorf("%s: %w: is a symlink; the counter record must be a regular file", path, ErrUnsafe)
	case err != nil:
		return nil, true, fmt.Errorf("opening the counter record: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrUnsafe, kind(fi.Mode()))
	}
	if err == nil {
		err = checkMode(path, fi, p.pol, false)
	}
	if err == nil && fi.Size() != recSize {
		err = fmt.Errorf("%s: %w: %d bytes, not %d; restore the state counter beside it and delete this file (kk-monitor recreates it)",
			path, ErrCorrupt, fi.Size(), recSize)
	}
	if err != nil {
		f.Close()
		return nil, true, err
	}
	return f, true, nil
}

// readRecord returns the record's newest valid slot; found is false if the
// profile has no record yet. The caller holds the profile's lock.
func (p *Profile) readRecord() (r record, nextSlot int, found bool, err error) {
	f, found, err := p.openRecord(os.O_RDONLY)
	if f == nil {
		return record{}, 0, found, err
	}
	defer f.Close()
	data := make([]byte, recSize)
	if _, err := f.ReadAt(data, 0); err != nil {
		return record{}, 0, true, fmt.Errorf("reading %s: %w", p.recordPath(), err)
	}
	r, nextSlot, ok := decodeRecord(data)
	if !ok {
		return record{}, 0, true, fmt.Errorf("%s: %w: neither slot holds a valid counter; restore the state counter beside it and delete this file",
			p.recordPath(), ErrCorrupt)
	}
	return r, nextSlot, true, nil
}

// writeRecord stores next in the record, durably, before returning: in
// place, in the slot that does not hold the newest value, then fdatasync.
// A missing record is created whole by the atomic temporary-file write.
// The caller holds the profile's exclusive lock.
func (p *Profile) writeRecord(next uint64) error {
	cur, slot, found, err := p.readRecord()
	if err != nil {
		return err
	}
	if !found {
		data := make([]byte, recSize)
		copy(data, encodeSlot(record{seq: 1, next: next}))
		return writeFileAtomic(p.recordPath(), data)
	}
	f, _, err := p.openRecord(os.O_WRONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := atomicOps.writeAt(f, encodeSlot(record{seq: cur.seq + 1, next: next}), int64(slot*recSlot)); err != nil {
		return fmt.Errorf("writing %s: %w", p.recordPath(), err)
	}
	if err := atomicOps.datasync(f); err != nil {
		return fmt.Errorf("syncing %s: %w", p.recordPath(), err)
	}
	return nil
}

// SyncCounterFile brings a server profile's state counter text file up to
// its record, which Accept wrote, with the crash-safe temporary-file write.
// kk-monitor calls it after the opening, off the knock's path. It does
// nothing on a client or when the file is current.
func (p *Profile) SyncCounterFile() error {
	if p.counterDir == "" {
		return nil
	}
	unlock, err := p.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	r, _, found, err := p.readRecord()
	if err != nil || !found {
		return err
	}
	text, err := readCounter(p.counterPath(), p.pol)
	if err == nil && text >= r.next {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeFileAtomic(p.counterPath(), []byte(strconv.FormatUint(r.next, 10)+"\n"))
}

// PrepareRecord creates a server profile's counter record, holding the
// counter readers see now, if the profile has been taken over and has no
// record yet: so that its first Accept overwrites the record in place
// instead of creating it, whose crash-safe write costs two journal commits
// on the knock's path. What readers see does not change: the record holds
// the larger of the state counter and the old record, which is what they
// took. It does nothing on a client.
func (p *Profile) PrepareRecord() error {
	if p.counterDir == "" {
		return nil
	}
	if _, err := os.Lstat(p.counterPath()); errors.Is(err, fs.ErrNotExist) {
		return nil // not taken over: Accept writes the state counter first
	}
	unlock, err := p.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if _, _, found, err := p.readRecord(); err != nil || found {
		return err
	}
	c, seeded, err := p.readCounter()
	if err != nil || seeded {
		return err
	}
	return p.writeRecord(c)
}
