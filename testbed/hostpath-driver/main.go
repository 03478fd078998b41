// Command hostpathplugin is a small CSI hostpath driver for the snapconf
// testbed. It keeps the driver name and the semantics of upstream's
// csi-driver-host-path hostpathplugin, and it also serves kubelet's plugin
// registration (node-driver-registrar's job), because the Go module proxy
// this testbed builds from refuses both upstream modules.
//
// main.go parses flags, opens the state directory, serves the CSI and
// registration sockets, and on SIGINT/SIGTERM stops gracefully, removing
// its sockets and keeping volumes and state on disk. With --register-only it
// serves only the registration socket, for a CSI driver run apart (a user's
// driver on the testbed), so no node-driver-registrar binary is needed.
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
)

// version is the driver version; release builds may set it with
// -ldflags "-X main.version=...".
var version = "0.1.0"

// driver is the state shared by the CSI services.
type driver struct {
	name          string
	nodeID        string
	stateDir      string
	maxVolumeSize int64

	// mu serialises every call that reads or changes the state or the data
	// on disk, as upstream does; the testbed never needs more concurrency.
	mu    sync.Mutex
	state *State

	// afterCut, when set, runs inside a snapshot cut after member i is
	// copied, with d.mu held. Only tests set it, to observe what holds
	// during a cut.
	afterCut func(member int)
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
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("hostpathplugin: %v", err)
	}
}

// config is the parsed command line.
type config struct {
	endpoint      string
	nodeID        string
	driverName    string
	stateDir      string
	regDir        string
	regPath       string
	maxVolumeSize int64
	registerOnly  bool
	printVersion  bool
}

// csiOnlyFlags are the flags that configure the CSI service, which
// --register-only does not serve.
var csiOnlyFlags = []string{"endpoint", "nodeid", "statedir", "max-volume-size"}

// parseFlags parses and checks the command line.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("hostpathplugin", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix:///path/to/csi.sock)")
	fs.StringVar(&c.nodeID, "nodeid", "", "node id reported to Kubernetes (required unless --register-only)")
	fs.StringVar(&c.driverName, "drivername", "hostpath.csi.k8s.io", "CSI driver name (with --register-only: the name to register, required)")
	fs.StringVar(&c.stateDir, "statedir", "/var/lib/csi-hostpath-data", "directory for volumes, snapshots and state.json")
	fs.StringVar(&c.regDir, "plugin-registration-dir", "", "kubelet plugin registration directory (e.g. <kubelet root>/plugins_registry); with --kubelet-registration-path, serves kubelet plugin registration")
	fs.StringVar(&c.regPath, "kubelet-registration-path", "", "CSI socket path kubelet should dial, reported during registration")
	fs.BoolVar(&c.registerOnly, "register-only", false, "serve only kubelet plugin registration for another CSI driver (--drivername, --plugin-registration-dir, --kubelet-registration-path), no CSI service: node-driver-registrar's job")
	fs.BoolVar(&c.printVersion, "version", false, "print the version and exit")
	maxSize := sizeFlag{bytes: 1 << 40}
	fs.Var(&maxSize, "max-volume-size", "largest volume this driver provisions (e.g. 1Ti)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.maxVolumeSize = maxSize.bytes
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if c.printVersion {
		return c, nil
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.driverName == "" {
		return c, errors.New("--drivername must not be empty")
	}
	if (c.regDir == "") != (c.regPath == "") {
		return c, errors.New("--plugin-registration-dir and --kubelet-registration-path go together")
	}
	if c.registerOnly {
		for _, name := range csiOnlyFlags {
			if set[name] {
				return c, fmt.Errorf("--register-only serves no CSI service; --%s does not apply", name)
			}
		}
		if !set["drivername"] {
			return c, errors.New("--register-only needs --drivername (the name the CSI driver reports in GetPluginInfo)")
		}
		if c.regDir == "" {
			return c, errors.New("--register-only needs --plugin-registration-dir and --kubelet-registration-path")
		}
		return c, nil
	}
	if c.nodeID == "" {
		return c, errors.New("--nodeid is required")
	}
	return c, nil
}

func run(args []string) error {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.printVersion {
		fmt.Println("hostpathplugin snapconf-hostpath/" + version)
		return nil
	}
	if c.registerOnly {
		return runRegisterOnly(c)
	}
	csiSocket, err := socketPath(c.endpoint)
	if err != nil {
		return err
	}

	d, err := openDriver(c.driverName, c.nodeID, c.stateDir, c.maxVolumeSize)
	if err != nil {
		return err
	}
	log.Printf("hostpathplugin %s: driver %s, node %s, state %s, %d volumes, %d snapshots, %d group snapshots",
		version, d.name, d.nodeID, d.stateDir, len(d.state.Volumes()), len(d.state.Snapshots()),
		len(d.state.GroupSnapshots()))

	csiLis, err := listenUnix(csiSocket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", csiSocket, err)
	}
	csiServer := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(csiServer, &identityServer{d: d})
	csi.RegisterControllerServer(csiServer, &controllerServer{d: d})
	csi.RegisterNodeServer(csiServer, &nodeServer{d: d})
	csi.RegisterGroupControllerServer(csiServer, &groupControllerServer{d: d})

	errc := make(chan error, 2)
	go serve("CSI", csiServer, csiLis, errc)

	// The registration socket appears only once the CSI socket is up:
	// kubelet dials the CSI endpoint as soon as it sees the registration.
	var reg *registration
	if c.regDir != "" {
		reg, err = startRegistration(c.regDir, d.name, c.regPath, errc)
		if err != nil {
			stopServer(csiServer, csiSocket)
			return err
		}
	}

	err = waitForStop(errc)
	// Registration first, so kubelet stops routing to the driver before the
	// CSI socket goes away.
	if reg != nil {
		reg.stop()
	}
	stopServer(csiServer, csiSocket)
	log.Printf("stopped; volumes and state kept in %s", d.stateDir)
	return err
}

// runRegisterOnly serves kubelet plugin registration for a CSI driver that
// runs as its own process (a user's driver on the testbed), until
// SIGINT/SIGTERM; it never dials the driver.
func runRegisterOnly(c config) error {
	log.Printf("hostpathplugin %s: registration only: driver %s, kubelet dials %s",
		version, c.driverName, c.regPath)
	errc := make(chan error, 1)
	reg, err := startRegistration(c.regDir, c.driverName, c.regPath, errc)
	if err != nil {
		return err
	}
	err = waitForStop(errc)
	reg.stop()
	log.Printf("stopped")
	return err
}

// serve runs a gRPC server until it stops, reporting a failure on errc.
func serve(name string, s *grpc.Server, lis net.Listener, errc chan<- error) {
	log.Printf("serving %s on %s", name, lis.Addr())
	if err := s.Serve(lis); err != nil {
		errc <- fmt.Errorf("%s server: %w", name, err)
	}
}

// waitForStop blocks until SIGINT/SIGTERM (nil) or a server failure.
func waitForStop(errc <-chan error) error {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	select {
	case sig := <-sigc:
		log.Printf("received %v, stopping", sig)
		return nil
	case err := <-errc:
		log.Printf("stopping: %v", err)
		return err
	}
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
