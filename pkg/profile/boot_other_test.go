//go:build !linux

package profile

// bootIDPath is boot_linux.go's, for the reserve tests to compile, and be
// vetted, where there is no boot ID (macOS, FreeBSD: kk-client's other
// systems). bootID ignores it there.
var bootIDPath string
