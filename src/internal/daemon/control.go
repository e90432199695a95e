package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// maxControlConns is how many status clients are served at once; one more
// is closed at once, unanswered. controlTimeout bounds each.
const (
	maxControlConns = 4
	controlTimeout  = 2 * time.Second
)

// listenControl opens the status socket. Whatever is at path already is
// looked at, not followed: a socket no daemon answers on (left by one that
// died) is replaced; a live one, or anything that is not a socket (a
// file, a directory, a symlink), is refused and left as it is. A missing
// directory is created, 0700, as it is then ours.
func listenControl(path string) (net.Listener, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("control socket %s: something else is there (%s); not replacing it: remove it or set daemon.socket", path, fileKind(fi.Mode()))
	default:
		if c, err := dialUnix(path); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another wgstun is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// fileKind names a file mode's type in words.
func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symlink"
	case fs.ModeNamedPipe:
		return "a FIFO"
	}
	return "a special file"
}

// serveControl answers every connection with one status snapshot, up to
// maxControlConns at a time, each within 2 s: a client that does not read
// holds one slot until then and delays nobody else.
func (d *Daemon) serveControl(ctx context.Context, l net.Listener) {
	d.serveControlWithin(ctx, l, controlTimeout)
}

func (d *Daemon) serveControlWithin(ctx context.Context, l net.Listener, timeout time.Duration) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	slots := make(chan struct{}, maxControlConns)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("control socket stopped", "err", err)
			}
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			c.SetDeadline(time.Now().Add(timeout))
			c.Write(d.board.marshal())
			<-slots // before Close: a client that saw its answer end finds the slot free
			c.Close()
		}()
	}
}

// dialUnix connects to a control socket. A connect to a Unix socket does
// not wait: one whose listener's backlog is full fails at once (EAGAIN),
// so it needs no timeout, and net.DialUnix keeps net.Dialer's machinery
// (name resolution, address racing) out of the router build.
func dialUnix(path string) (*net.UnixConn, error) {
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
}

// QueryStatus reads one snapshot from a running daemon's socket.
func QueryStatus(path string) ([]byte, error) {
	c, err := dialUnix(path)
	if err != nil {
		return nil, fmt.Errorf("is wgstun running? %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 16<<20))
	if err == nil && len(b) == 0 {
		err = fmt.Errorf("%s closed without an answer (the daemon serves %d clients at a time; try again)", path, maxControlConns)
	}
	return b, err
}
