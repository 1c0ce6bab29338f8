//go:build !unix

package intake

import (
	"errors"
	"os"
)

// freeBytes is not known here: the log keeps no reserve.
func freeBytes(*os.File) (int64, error) { return 0, errors.New("intake: free space not known") }
