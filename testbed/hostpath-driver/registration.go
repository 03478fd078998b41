// registration.go serves kubelet's plugin registration API, the job of the
// node-driver-registrar sidecar, whose module the local Go proxy refuses.
// Kubelet watches its plugins_registry directory, dials each socket that
// appears there, asks GetInfo which CSI endpoint to use, and reports back
// through NotifyRegistrationStatus.

package main

import (
	"context"
	"log"

	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type registrationServer struct {
	registerapi.UnimplementedRegistrationServer
	driverName string
	// endpoint is the CSI socket path kubelet should dial. It may differ from
	// the plugin's own --endpoint when a proxy sits in between.
	endpoint string
}

func (s *registrationServer) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("registration: kubelet asked for plugin info; answering %s at %s", s.driverName, s.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.driverName,
		Endpoint:          s.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (s *registrationServer) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.GetPluginRegistered() {
		log.Printf("registration: kubelet registered %s", s.driverName)
	} else {
		log.Printf("ERROR registration: kubelet did not register %s: %s", s.driverName, st.GetError())
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
