package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the IEC binary multiples a size may end with, largest first so that formatSize
// picks the shortest exact form. Parsing is hand-written because none of the chosen dependencies
// reads sizes, and four suffixes do not justify another module.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"TiB", 40},
	{"GiB", 30},
	{"MiB", 20},
	{"KiB", 10},
	{"B", 0},
}

var errSize = errors.New("want a byte count, optionally with B, KiB, MiB, GiB or TiB (e.g. 65536 or 64KiB)")

// parseSize reads a byte count such as "65536", "64KiB" or "10GiB"; suffixes are
// case-insensitive. It accepts no sign, no fraction and nothing above math.MaxInt64.
func parseSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			num, shift = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.shift
			break
		}
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, fmt.Errorf("size %q: %w", s, errSize)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n << shift, nil
}

// formatSize writes n with the largest IEC suffix that divides it exactly, so that --help shows
// "64KiB" rather than "65536".
func formatSize(n int64) string {
	if n != 0 {
		for _, u := range sizeUnits[:len(sizeUnits)-1] {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeValue is a pflag.Value of a size in bytes, read by parseSize.
type sizeValue[T int | int64] struct{ p *T }

func (v sizeValue[T]) String() string { return formatSize(int64(*v.p)) }

func (v sizeValue[T]) Type() string { return "size" }

func (v sizeValue[T]) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if int64(T(n)) != n {
		return fmt.Errorf("size %q: too large", s)
	}
	*v.p = T(n)
	return nil
}
