// registration_test.go checks the --register-only mode: its flags, and that
// the registration socket answers kubelet's calls with the given driver name
// and endpoint and goes away on stop.

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

func TestParseFlagsRegisterOnly(t *testing.T) {
	ok := []string{"--register-only", "--drivername", "my.csi.example.com",
		"--plugin-registration-dir", "/r", "--kubelet-registration-path", "/k/csi.sock"}
	c, err := parseFlags(ok)
	if err != nil {
		t.Fatalf("parseFlags(%v): %v", ok, err)
	}
	if !c.registerOnly || c.driverName != "my.csi.example.com" || c.regDir != "/r" || c.regPath != "/k/csi.sock" {
		t.Fatalf("parseFlags(%v) = %+v", ok, c)
	}

	bad := map[string]struct {
		args []string
		want string
	}{
		"no driver name": {[]string{"--register-only", "--plugin-registration-dir", "/r",
			"--kubelet-registration-path", "/k"}, "needs --drivername"},
		"no registration dir": {[]string{"--register-only", "--drivername", "d"},
			"needs --plugin-registration-dir"},
		"half the registration": {[]string{"--register-only", "--drivername", "d",
			"--plugin-registration-dir", "/r"}, "go together"},
		"a CSI flag": {append(slices.Clone(ok), "--endpoint", "unix:///x.sock"),
			"--endpoint does not apply"},
		"a state dir": {append(slices.Clone(ok), "--statedir", "/s"), "--statedir does not apply"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := parseFlags(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseFlags(%v) = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestParseFlagsPluginMode(t *testing.T) {
	// what sanity.sh and the testbed pass
	args := []string{"--endpoint", "unix:///tmp/x/csi.sock", "--nodeid", "n", "--statedir", "/tmp/x/state"}
	c, err := parseFlags(args)
	if err != nil {
		t.Fatalf("parseFlags(%v): %v", args, err)
	}
	if c.registerOnly || c.driverName != "hostpath.csi.k8s.io" || c.maxVolumeSize != 1<<40 {
		t.Fatalf("parseFlags(%v) = %+v", args, c)
	}
	if _, err := parseFlags([]string{"--endpoint", "unix:///x.sock"}); err == nil || !strings.Contains(err.Error(), "--nodeid is required") {
		t.Fatalf("no --nodeid: got %v", err)
	}
}

func TestRegistrationServesKubeletCalls(t *testing.T) {
	dir := t.TempDir()
	errc := make(chan error, 1)
	reg, err := startRegistration(dir, "my.csi.example.com", "/k/interposer.sock", errc)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "my.csi.example.com-reg.sock")
	if reg.socket != socket {
		t.Fatalf("socket %s, want %s", reg.socket, socket)
	}

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := registerapi.NewRegistrationClient(conn)
	info, err := client.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != "my.csi.example.com" ||
		info.Endpoint != "/k/interposer.sock" || !slices.Equal(info.SupportedVersions, []string{"1.0.0"}) {
		t.Fatalf("GetInfo = %+v", info)
	}
	if _, err := client.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatalf("NotifyRegistrationStatus: %v", err)
	}

	reg.stop()
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket still there after stop: %v", err)
	}
	select {
	case err := <-errc:
		t.Fatalf("server reported %v", err)
	default:
	}
}
