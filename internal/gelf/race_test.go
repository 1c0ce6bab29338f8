//go:build race

package gelf

const raceEnabled = true
