//go:build !windows

package main

// defaultData is where the hub keeps its CA, keys and database.
const defaultData = "/var/lib/carrel-hub"
