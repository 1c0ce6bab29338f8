//go:build race

package upload_test

// raceEnabled says that the race detector slows the tests down several times over: loads are
// smaller, and figures of throughput are printed, not held to a bound.
const raceEnabled = true
