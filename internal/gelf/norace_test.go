//go:build !race

package gelf

const raceEnabled = false
