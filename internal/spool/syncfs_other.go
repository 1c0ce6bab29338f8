//go:build !linux

package spool

import "os"

// syncFS is nil where the system has no syncfs(2): the files of a group are fsynced one by one.
var syncFS func(dir *os.File) error
