package server

// validChannel reports whether name is a channel name of docs/protocol.md
// section 4: 1 to 255 bytes of A-Z a-z 0-9 _ - . : @ =, and, when it has a
// namespace, a namespace of 1 to 64 of A-Z a-z 0-9 _ - followed by a
// non-empty rest.
func validChannel(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	colon := -1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.', c == '@', c == '=':
			if colon < 0 {
				// Part of a namespace-less name, unless a colon follows.
				continue
			}
		case c == ':':
			if colon < 0 {
				colon = i
			}
		default:
			return false
		}
	}
	if colon < 0 {
		return true
	}
	if colon == 0 || colon > 64 || colon == len(name)-1 {
		return false
	}
	for i := 0; i < colon; i++ {
		c := name[i]
		if c == '.' || c == '@' || c == '=' {
			return false
		}
	}
	return true
}
