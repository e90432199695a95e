#!/bin/bash
# Offline checks of the Homebrew formula: bash packaging/homebrew/test.sh
# Needs ruby (Debian package ruby; minitest ships with it) and go. Installs
# nothing. What is checked: formula_test.rb's header. What needs macOS and a
# brew install: `brew audit --strict --new`, `brew install --build-from-source`,
# `brew test`, and `brew services` generating and loading the launchd plist.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v ruby >/dev/null 2>&1 || {
	echo "homebrew test: ruby not found; install the Debian package ruby (apt-get install ruby)" >&2
	exit 2
}
command -v go >/dev/null 2>&1 || {
	echo "homebrew test: go not found (Go 1.26, see scripts/deps.sh)" >&2
	exit 2
}
ruby -c "$here/wgstun.rb"
ruby -c "$here/formula_test.rb"
exec ruby "$here/formula_test.rb"
