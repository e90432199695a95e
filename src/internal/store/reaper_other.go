//go:build !linux

package store

import "os/exec"

// Elsewhere the daemon cannot adopt what a plugin orphans; see
// reaper_linux.go.
func startPlugin(cmd *exec.Cmd) error { return cmd.Start() }

func pluginDone(*exec.Cmd) {}

func killOrphans() int { return -1 }
