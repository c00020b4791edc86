package wipe

import "runtime"

// runtimeGosched yields inside condition polls that have their own deadline.
func runtimeGosched() { runtime.Gosched() }
