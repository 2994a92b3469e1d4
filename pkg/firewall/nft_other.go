//go:build !linux

package firewall

import "errors"

// newNFTWriter fails: nf_tables exists only on Linux.
func newNFTWriter(v6 bool, netns int) (netlinkWriter, error) {
	return nil, errors.New("nf_tables netlink exists only on Linux")
}
