//go:build !unix

package config

import "math"

// raiseFileLimit: systems without RLIMIT_NOFILE (Windows) bound sockets by
// memory instead, so only BILLING_MAX_CONNS applies.
func raiseFileLimit() (uint64, error) { return math.MaxUint32, nil }
