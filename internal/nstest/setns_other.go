//go:build !linux

package nstest

import (
	"errors"
	"os"
)

// setns fails: network namespaces are Linux's. This file lets the tests of
// the packages kk-client is built from compile, and be vetted, for macOS
// and FreeBSD.
func setns(*os.File) error {
	return errors.New("network namespaces exist only on Linux")
}
