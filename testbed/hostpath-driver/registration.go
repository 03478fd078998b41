// registration.go serves kubelet's plugin registration API, the job of the
// node-driver-registrar sidecar, whose module the local Go proxy refuses.
// Kubelet watches its plugins_registry directory, dials each socket that
// appears there, asks GetInfo which CSI endpoint to use, and reports back
// through NotifyRegistrationStatus. The plugin serves it beside its own CSI
// socket, or alone (--register-only) for a CSI driver that runs apart.

package main

import (
	"context"
	"fmt"
	"log"
	"path/filepath"

	"google.golang.org/grpc"
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

// registration is a running registration server and its socket.
type registration struct {
	server *grpc.Server
	socket string
}

// registrationSocket is where kubelet finds the registration of a driver:
// <dir>/<driver name>-reg.sock, as node-driver-registrar names it.
func registrationSocket(dir, driverName string) string {
	return filepath.Join(dir, driverName+"-reg.sock")
}

// startRegistration serves the registration API on
// registrationSocket(dir, driverName), telling kubelet to dial endpoint. A
// serving failure is reported on errc.
func startRegistration(dir, driverName, endpoint string, errc chan<- error) (*registration, error) {
	socket := registrationSocket(dir, driverName)
	lis, err := listenUnix(socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	server := grpc.NewServer()
	registerapi.RegisterRegistrationServer(server, &registrationServer{driverName: driverName, endpoint: endpoint})
	go serve("registration", server, lis, errc)
	return &registration{server: server, socket: socket}, nil
}

// stop ends the registration and removes its socket, which tells kubelet
// the driver is gone.
func (r *registration) stop() {
	stopServer(r.server, r.socket)
}
