// server.go sets up the gRPC side: unix socket listeners (clearing a stale
// socket left by a killed plugin) and an interceptor that logs one line per
// CSI call, so a conformance run can be traced call by call in the plugin's
// stderr.

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// socketPath turns a unix:// endpoint (or a bare absolute path) into a path.
func socketPath(endpoint string) (string, error) {
	p, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok {
		p, ok = strings.CutPrefix(endpoint, "unix:")
	}
	if !ok && strings.Contains(endpoint, "://") {
		return "", fmt.Errorf("endpoint %q: only unix sockets are supported", endpoint)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("endpoint %q: socket path must be absolute", endpoint)
	}
	return filepath.Clean(p), nil
}

// listenUnix listens on a unix socket at p, first removing a stale socket
// there. Anything other than a socket at p is left alone and is an error.
func listenUnix(p string) (net.Listener, error) {
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", p)
		}
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, err
	}
	return net.Listen("unix", p)
}

// logCalls is a unary interceptor writing one line per call: method, the
// request's key fields, the gRPC code, the error message if any, the
// response's key fields, and the duration.
func logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	var b strings.Builder
	b.WriteString(path.Base(info.FullMethod))
	if s := describeRequest(req); s != "" {
		b.WriteString(" " + s)
	}
	b.WriteString(" -> " + status.Code(err).String())
	if err != nil {
		b.WriteString(": " + status.Convert(err).Message())
	} else if s := describeResponse(resp); s != "" {
		b.WriteString(" " + s)
	}
	fmt.Fprintf(&b, " (%s)", time.Since(start).Round(time.Microsecond))
	log.Print(b.String())
	return resp, err
}

// fields formats key/value pairs as "k=v", dropping empty values.
func fields(kv ...any) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		v := fmt.Sprint(kv[i+1])
		if v == "" || v == "0" || v == "false" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%v=%s", kv[i], v))
	}
	return strings.Join(parts, " ")
}

func describeRequest(req any) string {
	switch r := req.(type) {
	case *csi.CreateVolumeRequest:
		var access string
		for _, c := range r.GetVolumeCapabilities() {
			access = describeAccess(c)
		}
		return fields("name", r.GetName(),
			"required_bytes", r.GetCapacityRange().GetRequiredBytes(),
			"limit_bytes", r.GetCapacityRange().GetLimitBytes(),
			"access", access, "source", describeSource(r.GetVolumeContentSource()))
	case *csi.DeleteVolumeRequest:
		return fields("volume_id", r.GetVolumeId())
	case *csi.ValidateVolumeCapabilitiesRequest:
		return fields("volume_id", r.GetVolumeId())
	case *csi.ListVolumesRequest:
		return fields("max_entries", r.GetMaxEntries(), "starting_token", r.GetStartingToken())
	case *csi.ControllerExpandVolumeRequest:
		return fields("volume_id", r.GetVolumeId(), "required_bytes", r.GetCapacityRange().GetRequiredBytes())
	case *csi.CreateSnapshotRequest:
		return fields("name", r.GetName(), "source_volume_id", r.GetSourceVolumeId())
	case *csi.DeleteSnapshotRequest:
		return fields("snapshot_id", r.GetSnapshotId())
	case *csi.ListSnapshotsRequest:
		return fields("snapshot_id", r.GetSnapshotId(), "source_volume_id", r.GetSourceVolumeId(),
			"max_entries", r.GetMaxEntries(), "starting_token", r.GetStartingToken())
	case *csi.CreateVolumeGroupSnapshotRequest:
		return fields("name", r.GetName(), "source_volume_ids", strings.Join(r.GetSourceVolumeIds(), ","))
	case *csi.DeleteVolumeGroupSnapshotRequest:
		return fields("group_snapshot_id", r.GetGroupSnapshotId(), "snapshot_ids", strings.Join(r.GetSnapshotIds(), ","))
	case *csi.GetVolumeGroupSnapshotRequest:
		return fields("group_snapshot_id", r.GetGroupSnapshotId(), "snapshot_ids", strings.Join(r.GetSnapshotIds(), ","))
	case *csi.NodePublishVolumeRequest:
		return fields("volume_id", r.GetVolumeId(), "target", r.GetTargetPath(),
			"access", describeAccess(r.GetVolumeCapability()), "readonly", r.GetReadonly())
	case *csi.NodeUnpublishVolumeRequest:
		return fields("volume_id", r.GetVolumeId(), "target", r.GetTargetPath())
	case *csi.NodeGetVolumeStatsRequest:
		return fields("volume_id", r.GetVolumeId(), "path", r.GetVolumePath())
	case *csi.NodeExpandVolumeRequest:
		return fields("volume_id", r.GetVolumeId(), "path", r.GetVolumePath(),
			"required_bytes", r.GetCapacityRange().GetRequiredBytes())
	}
	return ""
}

func describeResponse(resp any) string {
	switch r := resp.(type) {
	case *csi.CreateVolumeResponse:
		return fields("volume_id", r.GetVolume().GetVolumeId(), "capacity_bytes", r.GetVolume().GetCapacityBytes())
	case *csi.ControllerExpandVolumeResponse:
		return fields("capacity_bytes", r.GetCapacityBytes(), "node_expansion_required", r.GetNodeExpansionRequired())
	case *csi.CreateSnapshotResponse:
		return fields("snapshot_id", r.GetSnapshot().GetSnapshotId(), "size_bytes", r.GetSnapshot().GetSizeBytes())
	case *csi.CreateVolumeGroupSnapshotResponse:
		return describeGroupSnapshot(r.GetGroupSnapshot())
	case *csi.GetVolumeGroupSnapshotResponse:
		return describeGroupSnapshot(r.GetGroupSnapshot())
	case *csi.ListSnapshotsResponse:
		return fields("entries", len(r.GetEntries()), "next_token", r.GetNextToken())
	case *csi.ListVolumesResponse:
		return fields("entries", len(r.GetEntries()), "next_token", r.GetNextToken())
	}
	return ""
}

// describeGroupSnapshot names a group snapshot and its members, so a member
// id in a later call can be traced back to its group in the log.
func describeGroupSnapshot(g *csi.VolumeGroupSnapshot) string {
	members := make([]string, 0, len(g.GetSnapshots()))
	for _, s := range g.GetSnapshots() {
		members = append(members, s.GetSourceVolumeId()+":"+s.GetSnapshotId())
	}
	return fields("group_snapshot_id", g.GetGroupSnapshotId(), "members", strings.Join(members, ","),
		"ready_to_use", g.GetReadyToUse())
}

func describeSource(src *csi.VolumeContentSource) string {
	switch {
	case src.GetSnapshot() != nil:
		return "snapshot:" + src.GetSnapshot().GetSnapshotId()
	case src.GetVolume() != nil:
		return "volume:" + src.GetVolume().GetVolumeId()
	}
	return ""
}

func describeAccess(c *csi.VolumeCapability) string {
	switch {
	case c.GetBlock() != nil:
		return "block"
	case c.GetMount() != nil:
		return "mount"
	}
	return ""
}
