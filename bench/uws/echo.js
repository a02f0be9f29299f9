// An echo server on uWebSockets, the C++ library, through its Node.js
// binding (uWebSockets.js): one thread, one event loop, every message
// sent back with the same type. The comparative benchmark starts it as
// the "uws" library; its argument list mirrors cmd/echoserver's.
//
//   node uws/echo.js -addr 127.0.0.1:9300 [-compress]
'use strict';
// The package falls back to a JavaScript implementation when its native
// module does not load; load the native module itself so that a mismatch
// (Node.js version, glibc) is an error rather than a different server.
const uWS = require(`uws-js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);

let addr = '127.0.0.1:9300';
let compress = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  switch (args[i]) {
    case '-addr': addr = args[++i]; break;
    case '-compress': compress = true; break;
    default:
      console.error(`uws echo: unknown argument ${args[i]}`);
      process.exit(2);
  }
}
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon);
const port = Number(addr.slice(colon + 1));

uWS.App().ws('/*', {
  // A 32 KiB window per connection is the closest uWebSockets has to the
  // other servers' settings (15-bit window, no context takeover).
  compression: compress ? uWS.DEDICATED_COMPRESSOR_32KB : uWS.DISABLED,
  maxPayloadLength: 64 << 20,
  maxBackpressure: 64 << 20,
  idleTimeout: 0,
  message: (ws, message, isBinary) => {
    ws.send(message, isBinary, compress);
  },
}).listen(host, port, (token) => {
  if (!token) {
    console.error(`uws echo: cannot listen on ${addr}`);
    process.exit(1);
  }
});

process.on('SIGTERM', () => process.exit(0));
