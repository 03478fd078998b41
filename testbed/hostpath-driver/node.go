// node.go implements the CSI Node service: publishing volumes into pods
// (bind mounts of directories, or of loop devices for block volumes), stats
// and node-side expansion. There is no stage/unstage step, so kubelet calls
// only NodePublishVolume and NodeUnpublishVolume.

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// topologyKey is the segment upstream's hostpath driver reports.
const topologyKey = "topology.hostpath.csi/node"

type nodeServer struct {
	csi.UnimplementedNodeServer
	d *driver
}

// topology is the one segment every volume and the node live in.
func (d *driver) topology() *csi.Topology {
	return &csi.Topology{Segments: map[string]string{topologyKey: d.nodeID}}
}

func (s *nodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: s.d.nodeID, AccessibleTopology: s.d.topology()}, nil
}

func (s *nodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	rpc := func(t csi.NodeServiceCapability_RPC_Type) *csi.NodeServiceCapability {
		return &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{
			Rpc: &csi.NodeServiceCapability_RPC{Type: t},
		}}
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{
		rpc(csi.NodeServiceCapability_RPC_EXPAND_VOLUME),
		rpc(csi.NodeServiceCapability_RPC_GET_VOLUME_STATS),
	}}, nil
}

func (s *nodeServer) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	if req.GetTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path missing in request")
	}
	if req.GetVolumeCapability() == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability missing in request")
	}
	access, err := accessTypeOf([]*csi.VolumeCapability{req.GetVolumeCapability()})
	if err != nil {
		return nil, err
	}

	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	vol, ok := s.d.state.Volume(req.GetVolumeId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	if vol.AccessType != access {
		return nil, status.Errorf(codes.InvalidArgument,
			"volume %s is a %s volume, cannot publish it as %s", vol.ID, vol.AccessType, access)
	}
	target := req.GetTargetPath()
	if access == BlockAccess {
		err = publishBlock(s.d.volumePath(vol), target, req.GetReadonly())
	} else {
		err = publishMount(s.d.volumePath(vol), target, req.GetReadonly())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "publish volume %s at %s: %v", vol.ID, target, err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// publishMount bind-mounts the volume directory on target, creating target.
func publishMount(volPath, target string, readOnly bool) error {
	mounted, err := isMountPoint(target)
	if errors.Is(err, os.ErrNotExist) {
		err = os.MkdirAll(target, 0o750)
	}
	if err != nil {
		return err
	}
	if mounted {
		return nil // already published
	}
	return bindMount(volPath, target, readOnly)
}

// publishBlock attaches the image to a loop device and bind-mounts the
// device on target, a file it creates.
func publishBlock(imgPath, target string, readOnly bool) error {
	dev, err := attachLoop(imgPath)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return err
		}
		f.Close()
	} else if err != nil {
		return err
	}
	mounted, err := isMountPoint(target)
	if err != nil {
		return err
	}
	if mounted {
		return nil // already published
	}
	return bindMount(dev, target, readOnly)
}

func (s *nodeServer) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	target := req.GetTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	if _, ok := s.d.state.Volume(req.GetVolumeId()); !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	mounted, err := isMountPoint(target)
	if errors.Is(err, os.ErrNotExist) {
		return &csi.NodeUnpublishVolumeResponse{}, nil // already unpublished
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "unpublish %s: %v", target, err)
	}
	if mounted {
		if err := unmount(target); err != nil {
			return nil, status.Errorf(codes.Internal, "unpublish %s: %v", target, err)
		}
	}
	// Remove, not RemoveAll: if the target is somehow still a mount, this
	// fails instead of deleting the volume's data through it.
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "unpublish %s: %v", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (s *nodeServer) NodeGetVolumeStats(_ context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	if req.GetVolumePath() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_path missing in request")
	}
	s.d.mu.Lock()
	vol, ok := s.d.state.Volume(req.GetVolumeId())
	s.d.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	if _, err := os.Stat(req.GetVolumePath()); errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.NotFound, "volume path %s does not exist", req.GetVolumePath())
	} else if err != nil {
		return nil, status.Errorf(codes.Internal, "stat %s: %v", req.GetVolumePath(), err)
	}

	if vol.AccessType == BlockAccess {
		fi, err := os.Stat(s.d.volumePath(vol))
		if err != nil {
			return nil, status.Errorf(codes.Internal, "stat volume %s: %v", vol.ID, err)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
			{Unit: csi.VolumeUsage_BYTES, Total: fi.Size()},
		}}, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(req.GetVolumePath(), &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", req.GetVolumePath(), err)
	}
	bsize := int64(st.Bsize)
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{
			Unit:      csi.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bsize,
			Available: int64(st.Bavail) * bsize,
			Used:      int64(st.Blocks-st.Bfree) * bsize,
		},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}}, nil
}

func (s *nodeServer) NodeExpandVolume(_ context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	vol, ok := s.d.state.Volume(req.GetVolumeId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	path := req.GetVolumePath()
	if path == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_path missing in request")
	}
	if required := req.GetCapacityRange().GetRequiredBytes(); required > s.d.maxVolumeSize {
		return nil, status.Errorf(codes.OutOfRange,
			"requested capacity %d exceeds the maximum volume size %d", required, s.d.maxVolumeSize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "volume path %s: %v", path, err)
	}
	switch {
	case fi.IsDir() && vol.AccessType == MountAccess:
		// A directory has no size of its own to grow.
	case fi.Mode()&os.ModeDevice != 0 && vol.AccessType == BlockAccess:
		if err := refreshLoops(s.d.volumePath(vol)); err != nil {
			return nil, status.Errorf(codes.Internal, "expand volume %s: %v", vol.ID, err)
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument,
			"volume path %s does not match %s volume %s", path, vol.AccessType, vol.ID)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: vol.CapacityBytes}, nil
}
