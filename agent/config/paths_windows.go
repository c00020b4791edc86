//go:build windows

package config

const (
	defaultPath     = `C:\ProgramData\Carrel\agent.toml`
	defaultStateDir = `C:\ProgramData\Carrel\state`
)
