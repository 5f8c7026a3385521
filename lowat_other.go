//go:build unix && !linux

package websocket

// Low-water marks are used on Linux only (see lowat_linux.go).

func (in *input) initLowat() {}

func (in *input) raiseLowat(fd uintptr, sure int) {}

func (in *input) dropLowat(fd uintptr) {}
