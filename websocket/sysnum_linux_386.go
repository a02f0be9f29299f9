package websocket

// sysRecvfrom is recvfrom(2)'s number on 386, where Go's syscall package
// knows only socketcall(2); the kernel has had the call itself since 4.3.
const sysRecvfrom = 371
