package capture

import (
	"errors"
	"os"
	"testing"
)

// On Linux the capture list changes nothing: the raw socket opens whatever
// the list names, and there is nothing per interface to describe.
func TestLinuxIgnoresCaptureList(t *testing.T) {
	if PerInterface {
		t.Fatal("PerInterface is true on Linux")
	}
	if _, err := Interfaces(false, []string{"eth0"}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Interfaces: %v, want ErrNotSupported", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("opening a raw socket needs root (CAP_NET_RAW)")
	}
	c, err := OpenWith(47999, false, 0, Options{Capture: []string{"no-such-if0"}, FIB: 3, BindInterface: "en9"})
	if err != nil {
		t.Fatalf("OpenWith with a capture list: %v", err)
	}
	c.Close()
}
