//go:build !unix

package template

import "errors"

func mkfifo(string) error { return errors.New("no fifos on this OS") }
