// Package testenv holds what several test packages need from their
// environment: the duplex binary built once, and headless Chromium started
// the way this machine allows.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// BuildDuplex builds the duplex command from pkgDir into a temporary
// directory, for a TestMain; cleanup removes it.
func BuildDuplex(pkgDir string) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "duplex-test-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "duplex")
	if out, err := exec.Command("go", "build", "-o", bin, pkgDir).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building duplex for the tests: %w\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// StartChromium starts headless Chromium at path with a fresh profile and
// the flags a closed, sandbox-less machine needs, and returns a browser
// context; the browser stops when the test ends.
func StartChromium(t *testing.T, path string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()      // closes the tab and the browser
		cancelAlloc() // waits for the browser process to exit
	})
	// Start the browser now, so that a failure to launch is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}
