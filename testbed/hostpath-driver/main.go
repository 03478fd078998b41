// Command hostpathplugin is a small CSI hostpath driver for the snapconf
// testbed. It keeps the driver name and the semantics of upstream's
// csi-driver-host-path hostpathplugin, and it also serves kubelet's plugin
// registration (node-driver-registrar's job), because the Go module proxy
// this testbed builds from refuses both upstream modules.
//
// main.go parses flags, opens the state directory, serves the CSI and
// registration sockets, and on SIGINT/SIGTERM stops gracefully, removing
// its sockets and keeping volumes and state on disk.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// version is the driver version; release builds may set it with
// -ldflags "-X main.version=...".
var version = "0.1.0"

// driver is the state shared by the three CSI services.
type driver struct {
	name          string
	nodeID        string
	stateDir      string
	maxVolumeSize int64

	// mu serialises every call that reads or changes the state or the data
	// on disk, as upstream does; the testbed never needs more concurrency.
	mu    sync.Mutex
	state *State
}

// sizeFlag is a flag.Value for byte counts with quantity suffixes.
type sizeFlag struct{ bytes int64 }

func (f *sizeFlag) String() string { return fmt.Sprint(f.bytes) }

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.bytes = n
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatalf("hostpathplugin: %v", err)
	}
}

func run() error {
	var (
		endpoint     = flag.String("endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix:///path/to/csi.sock)")
		nodeID       = flag.String("nodeid", "", "node id reported to Kubernetes (required)")
		driverName   = flag.String("drivername", "hostpath.csi.k8s.io", "CSI driver name")
		stateDir     = flag.String("statedir", "/var/lib/csi-hostpath-data", "directory for volumes, snapshots and state.json")
		regDir       = flag.String("plugin-registration-dir", "", "kubelet plugin registration directory (e.g. <kubelet root>/plugins_registry); with --kubelet-registration-path, serves kubelet plugin registration")
		regPath      = flag.String("kubelet-registration-path", "", "CSI socket path kubelet should dial, reported during registration")
		printVersion = flag.Bool("version", false, "print the version and exit")
		maxSize      = sizeFlag{bytes: 1 << 40}
	)
	flag.Var(&maxSize, "max-volume-size", "largest volume this driver provisions (e.g. 1Ti)")
	flag.Parse()

	if *printVersion {
		fmt.Println("hostpathplugin snapconf-hostpath/" + version)
		return nil
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	if *nodeID == "" {
		return errors.New("--nodeid is required")
	}
	if *driverName == "" {
		return errors.New("--drivername must not be empty")
	}
	if (*regDir == "") != (*regPath == "") {
		return errors.New("--plugin-registration-dir and --kubelet-registration-path go together")
	}
	csiSocket, err := socketPath(*endpoint)
	if err != nil {
		return err
	}

	d, err := openDriver(*driverName, *nodeID, *stateDir, maxSize.bytes)
	if err != nil {
		return err
	}
	log.Printf("hostpathplugin %s: driver %s, node %s, state %s, %d volumes, %d snapshots",
		version, d.name, d.nodeID, d.stateDir, len(d.state.Volumes()), len(d.state.Snapshots()))

	csiLis, err := listenUnix(csiSocket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", csiSocket, err)
	}
	csiServer := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(csiServer, &identityServer{d: d})
	csi.RegisterControllerServer(csiServer, &controllerServer{d: d})
	csi.RegisterNodeServer(csiServer, &nodeServer{d: d})

	errc := make(chan error, 2)
	serve := func(name string, s *grpc.Server, lis net.Listener) {
		log.Printf("serving %s on %s", name, lis.Addr())
		if err := s.Serve(lis); err != nil {
			errc <- fmt.Errorf("%s server: %w", name, err)
		}
	}
	go serve("CSI", csiServer, csiLis)

	// The registration socket appears only once the CSI socket is up:
	// kubelet dials the CSI endpoint as soon as it sees the registration.
	var regServer *grpc.Server
	var regSocket string
	if *regDir != "" {
		regSocket = filepath.Join(*regDir, d.name+"-reg.sock")
		regLis, err := listenUnix(regSocket)
		if err != nil {
			stopServer(csiServer, csiSocket)
			return fmt.Errorf("listen on %s: %w", regSocket, err)
		}
		regServer = grpc.NewServer()
		registerapi.RegisterRegistrationServer(regServer, &registrationServer{driverName: d.name, endpoint: *regPath})
		go serve("registration", regServer, regLis)
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigc:
		log.Printf("received %v, stopping", sig)
	case err = <-errc:
		log.Printf("stopping: %v", err)
	}
	// Registration first, so kubelet stops routing to the driver before the
	// CSI socket goes away.
	if regServer != nil {
		stopServer(regServer, regSocket)
	}
	stopServer(csiServer, csiSocket)
	log.Printf("stopped; volumes and state kept in %s", d.stateDir)
	return err
}

// openDriver prepares the state directory and loads state.json.
func openDriver(name, nodeID, stateDir string, maxSize int64) (*driver, error) {
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{stateDir, filepath.Join(stateDir, "volumes"), filepath.Join(stateDir, "snapshots")} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
	}
	state, err := LoadState(filepath.Join(stateDir, "state.json"))
	if err != nil {
		return nil, err
	}
	return &driver{name: name, nodeID: nodeID, stateDir: stateDir, maxVolumeSize: maxSize, state: state}, nil
}

// stopServer lets in-flight calls finish (for at most 30 s), then removes
// the socket file.
func stopServer(s *grpc.Server, socket string) {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		log.Printf("graceful stop timed out; closing remaining connections")
		s.Stop()
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Printf("remove %s: %v", socket, err)
	}
}
