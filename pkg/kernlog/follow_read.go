package kernlog

import (
	"bytes"
	"fmt"
	"io"
)

// drain reads to the current end of the file, handing over complete lines.
func (fl *follower) drain() error {
	for {
		k, err := fl.f.Read(fl.buf[fl.n:])
		fl.off += int64(k)
		fl.deliver(fl.n + k)
		if k > 0 && fl.afterRead != nil {
			fl.afterRead()
		}
		if err == io.EOF || (err == nil && k == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", fl.path, err)
		}
	}
}

// deliver hands over the complete lines in buf[:end] and keeps the rest. A
// line that fills the buffer is longer than MaxLine: it is dropped, through
// its newline however many reads later that comes.
func (fl *follower) deliver(end int) {
	data := fl.buf[:end]
	if fl.skip > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fl.skip += int64(len(data))
			fl.n = 0
			return
		}
		fl.skip = 0
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		fl.handle(data[:i])
		data = data[i+1:]
	}
	if len(data) == len(fl.buf) {
		fl.startDropping()
		data = data[:0]
	}
	fl.n = copy(fl.buf, data)
}

// startDropping begins dropping the line that fills the buffer.
func (fl *follower) startDropping() {
	fl.skip = int64(len(fl.buf))
	if fl.tooLong != nil {
		fl.tooLong()
	}
}

// flushPartial hands over a last line that has no newline, unless it is
// being dropped.
func (fl *follower) flushPartial() {
	if fl.n > 0 && fl.skip == 0 {
		fl.handle(fl.buf[:fl.n])
		if fl.afterRead != nil {
			fl.afterRead()
		}
	}
	fl.n, fl.skip = 0, 0
}
