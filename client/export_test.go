package client

// SetResubscribeHooks sets the hooks of resubscribeAll for a test and
// returns a function that removes them.
func SetResubscribeHooks(before func(), resubscribing func(n int)) (restore func()) {
	testHooks.Store(&resubscribeHooks{beforeResubscribe: before, resubscribing: resubscribing})
	return func() { testHooks.Store(nil) }
}
