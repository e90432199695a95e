// Command wgstun lets WireGuard peers behind NAT find each other: it learns
// the NAT mapping of WireGuard's own port with STUN, publishes it sealed for
// each peer in a store, and sets each peer's endpoint from the peer's record.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/wgstun/wgstun/src/internal/config"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: wgstun <command> [flags]

commands:
  run     [-c FILE]           run the daemon in the foreground
  check   [-c FILE]           validate the configuration and print the plan
  status  [-s SOCKET] [--json] show what the running daemon is doing
  nat-check [-s HOST:PORT]... [-c FILE] [-i IFACE] [-6] [--json]
                              classify the NAT in front of this host (RFC 5780)
  version                     print the version

The default configuration file is ` + config.DefaultPath + `.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "nat-check":
		return cmdNATCheck(args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "wgstun", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wgstun: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := newFlagSet("wgstun " + name)
	fs.SetOutput(stderr)
	path := fs.String("c", config.DefaultPath, "configuration file")
	if fs.Parse(args) != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wgstun %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", false
	}
	return *path, true
}
