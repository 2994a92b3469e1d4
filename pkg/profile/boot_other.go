//go:build !linux

package profile

// bootID returns "": without a boot ID that changes on every boot, a
// reservation could not be told from one an OS crash left stale, so the
// client stores its counter durably before each send.
func bootID() string { return "" }
