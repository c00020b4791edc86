// Package repocheck holds tests about the repository itself rather than about
// one package: the layering rules between agent/, console/, internal/ and the test
// rigs, and the dated notes ("Limitations (2026-11): ...") that must be re-read
// when their package changes. It has no code; `go test ./internal/repocheck`
// runs the checks.
package repocheck
