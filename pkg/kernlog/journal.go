package kernlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// JournalctlArgs is the default command FollowJournal runs: kernel messages
// of the current boot as JSON, starting with new ones.
var JournalctlArgs = []string{"journalctl", "-k", "-f", "-n", "0", "-o", "json", "--no-pager"}

// maxJournalLine bounds one JSON entry; longer ones are an error.
const maxJournalLine = 1 << 20

// FollowJournal runs argv, a journalctl command printing one JSON entry per
// line (see JournalctlArgs), and calls handle with each line until ctx is done
// or the command exits. Pass each line to Parser.ParseJournalJSON, which
// checks that the entry came from the kernel. It returns nil when ctx is
// done; otherwise an error naming the command and including its stderr.
func FollowJournal(ctx context.Context, argv []string, handle func(line []byte)) error {
	if len(argv) == 0 {
		return fmt.Errorf("following the journal: empty journalctl command")
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
