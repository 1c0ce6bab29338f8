//go:build race

package upload_test

// raceEnabled says that the race detector slows the test down several times over: figures of
// throughput are printed, not held to a bound.
const raceEnabled = true
