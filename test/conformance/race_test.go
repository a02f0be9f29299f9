//go:build race

package conformance_test

// raceEnabled makes the binaries under test carry the race detector too.
const raceEnabled = true
