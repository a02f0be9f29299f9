//go:build !race

package websocket

// deflateRaceEnabled is true under the race detector, whose sync.Pool drops
// a share of what is put back on purpose, so pooled paths allocate.
const deflateRaceEnabled = false
