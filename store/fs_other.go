//go:build !(linux || darwin || freebsd)

package store

import "os"

// Elsewhere the checks that need a POSIX file system pass: a full or
// unwritable disk shows when a write fails.

func freeSpace(string) (int64, bool) { return 0, false }
func dirWritable(string) error       { return nil }
func owner(os.FileInfo) string       { return "" }
