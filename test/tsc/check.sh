#!/usr/bin/env bash
# Type checks web/duplex.d.ts (through example.ts and the demo scripts) and
# runs the node tests of web/duplex.js. Needs node and npm; installs the
# pinned TypeScript from package-lock.json into node_modules here.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund || npm install --no-audit --no-fund
npx tsc --noEmit -p .
node --test
