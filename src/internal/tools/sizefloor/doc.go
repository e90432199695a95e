// Package sizefloor holds the probe programs of scripts/size-floor.sh: each
// subdirectory is a main package that links one more of wgstun's fixed
// dependencies than the one before, used just enough that the linker keeps
// it. Their stripped sizes show how much of the router binary is the floor
// those dependencies set and how much is wgstun's own.
package sizefloor
