//go:build tools

// Package tools pins the kind command, so go.sum covers it.
package tools

import _ "sigs.k8s.io/kind"
