//go:build linux || darwin || freebsd

package store

import (
	"fmt"
	"os"
	"syscall"
)

// freeSpace is how many bytes an unprivileged writer may still add to the
// filesystem dir is on.
func freeSpace(dir string) (int64, bool) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, false
	}
	return int64(fs.Bavail) * int64(fs.Bsize), true
}

// dirWritable reports why this process may not create files in dir.
func dirWritable(dir string) error { return syscall.Access(dir, 2 /* W_OK */) }

// owner names a file's owner, for an operator to fix its permissions.
func owner(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("owner %d:%d, ", st.Uid, st.Gid)
	}
	return ""
}
