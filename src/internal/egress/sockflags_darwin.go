package egress

// sockFlags: socket(2) on macOS takes no flags; see socket.
const sockFlags = 0
