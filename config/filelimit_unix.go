//go:build unix

package config

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft open-file limit to the hard one and
// returns it: Go's syscall package raises it at start only to one below the
// hard limit (to notice another process changing it). If raising fails (a
// hard limit of "unlimited" cannot be the soft one), the soft limit stands.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return uint64(lim.Cur), nil // int64 on some BSDs
}
