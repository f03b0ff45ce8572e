//go:build tools

// Keeps Flagger's controller command in this module's graph so `go mod tidy` records what building
// github.com/fluxcd/flagger/cmd/flagger needs (a main package cannot be imported outside this build tag).
package tools

import _ "github.com/fluxcd/flagger/cmd/flagger"
