package config

import (
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// An UnknownVariable is a KINESYSLOG_* environment variable that no option reads: most often a
// typo (KINESYSLOG_STRAEM), which would otherwise leave its option at the default in silence.
type UnknownVariable struct {
	Name string
	// Closest is the variable of an option nearest to Name by edit distance, or "" when none is
	// near enough to be the one meant.
	Closest string
}

// UnknownEnv returns the variables of environ (os.Environ's "NAME=value" form) that start with
// EnvPrefix but that no flag c.RegisterFlags defined on fs reads, in the order of environ, each
// with the closest variable an option reads. Empty variables are included: Load ignores them
// too, but the name is still a mistake.
func UnknownEnv(fs *pflag.FlagSet, environ []string) []UnknownVariable {
	var known []string
	fs.VisitAll(func(f *pflag.Flag) {
		if env := f.Annotations[envAnnotation]; len(env) > 0 {
			known = append(known, env[0])
		}
	})
	var unknown []UnknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(known, name) {
			continue
		}
		unknown = append(unknown, UnknownVariable{Name: name, Closest: closest(name, known)})
	}
	return unknown
}

// closest returns the name of known nearest to name by edit distance, or "" when even that one
// differs in more than a third of name's characters after EnvPrefix (two in STRAEM): a guess so
// far off would mislead.
func closest(name string, known []string) string {
	best, bestDistance := "", 0
	for _, k := range known {
		if d := editDistance(name, k); best == "" || d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if bestDistance > max(1, (len(name)-len(EnvPrefix))/3) {
		return ""
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b: the fewest single-byte insertions,
// deletions and substitutions that turn one into the other.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
