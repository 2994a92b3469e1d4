package kernlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// JournalctlArgs is the default command FollowJournal runs: kernel messages
// of the current boot as JSON, starting with new ones.
var JournalctlArgs = []string{"journalctl", "-k", "-f", "-n", "0", "-o", "json", "--no-pager"}

// maxJournalLine bounds one JSON entry; longer ones are an error.
const maxJournalLine = 1 << 20

// JournalOptions change how FollowJournal runs journalctl.
type JournalOptions struct {
	// Resume, if not nil, carries the place reached from one FollowJournal
	// to the next: if an earlier call recorded a cursor, FollowJournal
	// starts with the entry after it, and it records the cursor of each
	// entry it hands to handle. See Cursor.
	Resume *Cursor
}

// A Cursor is the journal cursor (__CURSOR) of the last entry FollowJournal
// handed over. A later FollowJournal given it drops argv's -n/--lines option
// and adds --after-cursor, so journalctl delivers the entries written since,
// and none of the earlier ones again. Until an entry is handed over there is
// no cursor; then the later FollowJournal uses --since with the time the
// first one started, as all entries since then are new to it.
//
// The zero value records nothing, so FollowJournal runs argv as it is. A
// Cursor is unsafe for concurrent use: read it only after FollowJournal
// returns.
type Cursor struct {
	c     []byte    // reused, so recording one allocates only while it grows
	start time.Time // when the first FollowJournal given it started
}

// String returns the recorded cursor, or "" if none.
func (c *Cursor) String() string { return string(c.c) }

// cursorKey starts the __CURSOR member of a JSON entry. A quote inside a
// JSON string is escaped, so this cannot match inside a MESSAGE.
var cursorKey = []byte(`"__CURSOR":"`)

// cursorWord is "__CURSOR" as a little-endian 64-bit word.
const cursorWord = '_' | '_'<<8 | 'C'<<16 | 'U'<<24 | 'R'<<32 | 'S'<<40 | 'O'<<48 | 'R'<<56

// record stores the cursor of entry, a `journalctl -o json` line; a line
// without one leaves c as it was.
func (c *Cursor) record(entry []byte) {
	i := indexCursorKey(entry)
	if i < 0 {
		return
	}
	v := entry[i+len(cursorKey):]
	end := bytes.IndexByte(v, '"')
	if end <= 0 {
		return
	}
	c.c = append(c.c[:0], v[:end]...)
}

// indexCursorKey is bytes.Index(entry, cursorKey), found by looking at the
// underscores: bytes.Index looks at every quote, of which a JSON entry has
// four times as many, and takes as long as parsing the entry.
func indexCursorKey(entry []byte) int {
	if len(entry) < len(cursorKey) {
		return -1
	}
	for off := 1; ; {
		i := bytes.IndexByte(entry[off:], '_')
		if i < 0 {
			return -1
		}
		at := off + i // where "__CURSOR" would start
		if at+len(cursorKey)-1 > len(entry) {
			return -1
		}
		if entry[at-1] == '"' && binary.LittleEndian.Uint64(entry[at:]) == cursorWord &&
			entry[at+8] == '"' && entry[at+9] == ':' && entry[at+10] == '"' {
			return at - 1
		}
		off = at + 1
	}
}

// FollowJournal runs argv, a journalctl command printing one JSON entry per
// line (see JournalctlArgs), and calls handle with each line until ctx is done
// or the command exits. Pass each line to Parser.ParseJournalJSON, which
// checks that the entry came from the kernel. It returns nil when ctx is
// done; otherwise an error naming the command and including its stderr.
func FollowJournal(ctx context.Context, argv []string, opt JournalOptions, handle func(line []byte)) error {
	if len(argv) == 0 {
		return fmt.Errorf("following the journal: empty journalctl command")
	}
	if opt.Resume != nil {
		argv = opt.Resume.args(argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("following the journal with %s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("following the journal: starting %s: %w (is systemd's journalctl installed?)", argv[0], err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), maxJournalLine)
	for sc.Scan() {
		handle(sc.Bytes())
		if opt.Resume != nil {
			opt.Resume.record(sc.Bytes())
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		cmd.Process.Kill() // it would block writing to the pipe no one reads
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	cmdline := strings.Join(argv, " ")
	if scanErr != nil {
		return fmt.Errorf("reading output of %s: %w", cmdline, scanErr)
	}
	return fmt.Errorf("%s exited: %v: %s", cmdline, waitErr, strings.TrimSpace(stderr.String()))
}

// args returns the command that goes on from c: argv itself the first time.
func (c *Cursor) args(argv []string) []string {
	switch {
	case len(c.c) > 0:
		return resumeArgs(argv, "--after-cursor="+c.String())
	case !c.start.IsZero():
		us := c.start.UnixMicro()
		return resumeArgs(argv, fmt.Sprintf("--since=@%d.%06d", us/1e6, us%1e6))
	}
	c.start = time.Now()
	return argv
}

// resumeArgs returns argv without its -n/--lines option and with from, the
// option saying where to start: journalctl shows nothing after a cursor
// with -n 0.
// Like journalctl, it takes the word after a bare -n or --lines as its value
// only if it is a line count.
func resumeArgs(argv []string, from string) []string {
	out := append(make([]string, 0, len(argv)+1), argv[0])
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-n" || a == "--lines":
			if i+1 < len(argv) && isLineCount(argv[i+1]) {
				i++
			}
		case strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "--lines="):
		default:
			out = append(out, a)
		}
	}
	return append(out, from)
}

// isLineCount reports whether s is a value journalctl takes for -n: "all",
// N or +N.
func isLineCount(s string) bool {
	if s == "all" {
		return true
	}
	_, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 32)
	return err == nil
}
