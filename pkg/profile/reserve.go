package profile

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/pkg/knock"
)

// ReserveBlock is how many counters a client reserves with one durable write
// of its counter file (see "The client's counter reservation" in the package
// doc). After an OS crash or a power cut the client skips at most this many
// counters, all of them unused: 4 is a fifth of the server's default
// error_window of 20, so a reboot leaves 16 counters of the window for lost
// knocks, and still a block of 4 costs one fsync per four knocks, none of
// them in front of a send in the steady state.
const ReserveBlock = 4

// ReserveFile is the client's side state in the profile directory: the
// reservation's next counter, trusted only on the boot that wrote it and
// only while the counter file is the one it was written beside. The
// original knockknock never reads it; a leading dot keeps it out of
// `scp host:profile/*`.
const ReserveFile = ".kk-counter-reserve"

// reserveLen is the fixed length of the reservation record, padded with
// blanks, so every write overwrites the whole of the previous one.
const reserveLen = 256

// A reservation is the client's side state: counters next .. high-1 are
// reserved and unused; high is what the counter file held, durably, when
// the record was written, and fileID says which counter file that was.
type reservation struct {
	boot string
	id   fileID
	high uint64
	next uint64
}

// A fileID tells one version of the counter file from another: a rename
// changes the inode, any write changes ctime.
type fileID struct {
	dev, ino        uint64
	ctimeS, ctimeNS int64
}

// SendKnock seals a knock for port with the profile's next counter and
// passes it to send, which puts it on the wire. The counter is durable
// before send is called: on a client profile it lies below the high-water
// mark already fsync'd to the counter file, so in the steady state no fsync
// stands in front of the send; the next block is reserved after send
// returns. A v2 profile's knock is bound to b; without b.Source it returns
// an error wrapping knock.ErrNoSource and spends no counter. A counter
// handed to send is spent even if send fails.
//
// Where the boot ID is unknown (not Linux) and on a server profile, it
// stores used+1 durably before each send, as NextKnockFor.
func (p *Profile) SendKnock(port uint16, b knock.Binding, send func(knock.Fields) error) (used uint32, err error) {
	if p.Version == 2 && !b.Source.IsValid() {
		return 0, fmt.Errorf("profile %s is v2: %w", p.Dir, knock.ErrNoSource)
	}
	boot := bootID()
	if p.counterDir != "" || boot == "" {
		f, used, err := p.NextKnockFor(port, b)
		if err != nil {
			return 0, err
		}
		return used, send(f)
	}
	unlock, err := p.lock(unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer unlock()
	path := p.counterPath()
	high, id, err := readCounterID(path)
	if err != nil {
		return 0, err
	}
	rf, err := openReserve(p.Dir, true)
	if err != nil {
		return 0, err
	}
	defer rf.Close()
	from, limit := high, uint64(0) // no reservation: a durable write first
	if r, ok := readReservation(rf); ok && r.valid(boot, id, high) {
		from, limit = r.next, high
	}
	c, f, err := p.firstUsable(from, port, b)
	if err != nil {
		return 0, err
	}
	if c >= limit {
		high = min(c+ReserveBlock, knock.MaxCounter+1)
		if id, err = writeCounterID(path, high); err != nil {
			return 0, err
		}
	}
	r := reservation{boot: boot, id: id, high: high, next: c + 1}
	if err := writeReservation(rf, r); err != nil {
		return 0, err
	}
	if err := send(f); err != nil {
		return uint32(c), err
	}
	// The block is used up: reserve the next one now, after the send. A
	// failure here costs nothing but speed: the next knock finds no
	// reservation and writes the counter file before its send, and reports
	// the error if it persists.
	if r.next >= r.high && r.high <= knock.MaxCounter {
		high := min(r.next+ReserveBlock, knock.MaxCounter+1)
		if id, err := writeCounterID(path, high); err == nil {
			writeReservation(rf, reservation{boot: boot, id: id, high: high, next: r.next})
		}
	}
	return uint32(c), nil
}

// firstUsable returns the first counter from c on whose knock has a nonzero
// IPv4 ID (the kernel rewrites a zero ID on raw sockets, and the server's
// window absorbs the gap), with that knock.
func (p *Profile) firstUsable(c uint64, port uint16, b knock.Binding) (uint64, knock.Fields, error) {
	for ; c <= knock.MaxCounter; c++ {
		if f := p.encode(uint32(c), port, b); f.ID != 0 {
			return c, f, nil
		}
	}
	return 0, knock.Fields{}, fmt.Errorf("%s: %w", p.counterPath(), knock.ErrCounterExhausted)
}

// valid reports whether r may be trusted now: written on this boot, beside
// this very counter file, which still holds the high-water mark r was
// written with.
func (r reservation) valid(boot string, id fileID, high uint64) bool {
	return r.boot == boot && r.id == id && r.high == high && r.next <= high
}

// reservedNext returns the client's next counter: the reservation's, if it
// is valid, else stored, the counter file's. The caller holds the lock.
func (p *Profile) reservedNext(stored uint64) (uint64, error) {
	boot := bootID()
	if p.counterDir != "" || boot == "" {
		return stored, nil
	}
	_, id, err := readCounterID(p.counterPath())
	if err != nil {
		return 0, err
	}
	rf, err := openReserve(p.Dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return stored, nil
	}
	if err != nil {
		return 0, err
	}
	defer rf.Close()
	if r, ok := readReservation(rf); ok && r.valid(boot, id, stored) {
		return r.next, nil
	}
	return stored, nil
}

// readCounterID reads a client's counter file and says which version of
// it that was. A writer that takes no lock (the original client, an
// editor) may replace the file between the read and the stat; the
// reservation is then written with the old value beside the new file, and
// the next knock finds the values differ and distrusts it.
func readCounterID(path string) (uint64, fileID, error) {
	c, err := readCounter(path, private)
	if err != nil {
		return 0, fileID{}, err
	}
	id, err := counterFileID(path)
	return c, id, err
}

// writeCounterID durably writes high to the counter file, in the original's
// format, and returns the new file's identity.
func writeCounterID(path string, high uint64) (fileID, error) {
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(high, 10)+"\n")); err != nil {
		return fileID{}, err
	}
	return counterFileID(path)
}

func counterFileID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, fmt.Errorf("reading profile file %s: %w", path, err)
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), ctimeS: int64(st.Ctim.Sec), ctimeNS: int64(st.Ctim.Nsec)}, nil
}

// openReserve opens the reservation file in dir, creating it (0600) if
// create is set. Like every profile file it must be a regular file, not a
// symlink, the user's own and closed to group and others.
func openReserve(dir string, create bool) (*os.File, error) {
	path := filepath.Join(dir, ReserveFile)
	flags := os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w: is a symlink; remove it, kk-client recreates it", path, ErrUnsafe)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the counter reservation: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w: not a regular file (%s); remove it, kk-client recreates it", path, ErrUnsafe, kind(fi.Mode()))
	}
	if err == nil {
		err = checkMode(path, fi, private, false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readReservation reads the record in f; ok is false if there is none or it
// is damaged, and then it is not trusted.
func readReservation(f *os.File) (r reservation, ok bool) {
	buf := make([]byte, reserveLen+1)
	n, err := f.ReadAt(buf, 0)
	if n != reserveLen || (err != nil && err != io.EOF) {
		return r, false
	}
	return parseReservation(string(buf[:n]))
}

// writeReservation overwrites the record in f with r in one write. It is not
// synced: the page cache outlives a killed process, and after an OS crash
// the boot ID no longer matches, so the record is not trusted.
func writeReservation(f *os.File, r reservation) error {
	if _, err := f.WriteAt([]byte(r.format()), 0); err != nil {
		return fmt.Errorf("writing the counter reservation %s: %w", f.Name(), err)
	}
	return nil
}

// format renders r as one line of reserveLen bytes, its CRC-32 last, so a
// torn or edited record is refused.
func (r reservation) format() string {
	body := fmt.Sprintf("kk-counter-reserve 1 boot=%s dev=%d ino=%d ctime=%d.%09d high=%d next=%d",
		r.boot, r.id.dev, r.id.ino, r.id.ctimeS, r.id.ctimeNS, r.high, r.next)
	line := fmt.Sprintf("%s sum=%08x", body, crc32.ChecksumIEEE([]byte(body)))
	return line + strings.Repeat(" ", max(reserveLen-1-len(line), 0)) + "\n"
}

func parseReservation(s string) (r reservation, ok bool) {
	if len(s) != reserveLen || s[reserveLen-1] != '\n' {
		return r, false
	}
	line := strings.TrimRight(s[:reserveLen-1], " ")
	i := strings.LastIndex(line, " sum=")
	if i < 0 {
		return r, false
	}
	body := line[:i]
	sum, err := strconv.ParseUint(line[i+len(" sum="):], 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE([]byte(body)) {
		return r, false
	}
	var ctime string
	n, err := fmt.Sscanf(body, "kk-counter-reserve 1 boot=%s dev=%d ino=%d ctime=%s high=%d next=%d",
		&r.boot, &r.id.dev, &r.id.ino, &ctime, &r.high, &r.next)
	if err != nil || n != 6 {
		return r, false
	}
	sec, nsec, found := strings.Cut(ctime, ".")
	if !found {
		return r, false
	}
	if r.id.ctimeS, err = strconv.ParseInt(sec, 10, 64); err != nil {
		return r, false
	}
	if r.id.ctimeNS, err = strconv.ParseInt(nsec, 10, 64); err != nil {
		return r, false
	}
	return r, r.format() == s && r.high <= knock.MaxCounter+1
}
