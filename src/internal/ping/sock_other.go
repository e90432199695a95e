//go:build !linux && !darwin && !freebsd

package ping

const supported = false

func openConn(string, bool) (conn, bool, error) { return nil, false, ErrNotSupported }

func gone(error) bool { return false }
