//go:build !linux && !windows && !darwin

package config

// On an unsupported OS there is no default: the file must name state_dir, and the
// state directory checks return ErrNotImplemented.
const (
	defaultPath     = "agent.toml"
	defaultStateDir = ""
)
