//go:build !linux

package main

import "errors"

// openCaptureSocket fails: the capture runs in a network namespace, which
// only Linux has. This file lets the tests compile, and be vetted, for
// the client's other systems.
func openCaptureSocket() (int, error) {
	return -1, errors.New("the knock capture needs Linux")
}
