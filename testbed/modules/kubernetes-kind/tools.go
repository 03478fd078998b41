//go:build tools

// Package tools pins kubeadm and kubectl, so go.sum covers them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
