// controller.go implements the CSI Controller service: volumes (create,
// clone, restore, delete, expand, list) and snapshots (create, delete, list;
// group snapshots are in groupcontroller.go),
// with the idempotency and error codes of upstream's hostpathplugin, so the
// external-provisioner, -snapshotter and -resizer sidecars see the same
// behaviour here as against the real driver.

package main

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type controllerServer struct {
	csi.UnimplementedControllerServer
	d *driver
}

// controllerCapabilities are the controller RPCs this driver implements.
var controllerCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
}

func (s *controllerServer) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	caps := make([]*csi.ControllerServiceCapability, 0, len(controllerCapabilities))
	for _, t := range controllerCapabilities {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t},
		}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (s *controllerServer) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name missing in request")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities missing in request")
	}
	access, err := accessTypeOf(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	capacity, err := resolveCapacity(req.GetCapacityRange(), s.d.maxVolumeSize)
	if err != nil {
		return nil, err
	}
	srcSnapshot, srcVolume, err := contentSourceIDs(req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}

	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	if ex, ok := s.d.state.VolumeByName(req.GetName()); ok {
		switch {
		case !fitsRange(ex.CapacityBytes, req.GetCapacityRange()):
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q already exists with capacity %d, outside the requested range", ex.Name, ex.CapacityBytes)
		case ex.AccessType != access:
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q already exists with access type %s", ex.Name, ex.AccessType)
		case ex.SourceSnapshotID != srcSnapshot || ex.SourceVolumeID != srcVolume:
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q already exists with a different content source", ex.Name)
		}
		return &csi.CreateVolumeResponse{Volume: s.d.csiVolume(ex, req.GetParameters())}, nil
	}

	vol := Volume{
		ID:               newID(),
		Name:             req.GetName(),
		CapacityBytes:    capacity,
		AccessType:       access,
		SourceSnapshotID: srcSnapshot,
		SourceVolumeID:   srcVolume,
		CreatedAt:        time.Now().UTC(),
	}
	path := s.d.volumePath(vol)
	switch {
	case srcSnapshot != "":
		snap, ok := s.d.state.Snapshot(srcSnapshot)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "source snapshot %s not found", srcSnapshot)
		}
		if snap.SizeBytes > capacity {
			return nil, status.Errorf(codes.OutOfRange,
				"source snapshot %s is %d bytes, more than the requested capacity %d", snap.ID, snap.SizeBytes, capacity)
		}
		if snap.AccessType != access {
			return nil, status.Errorf(codes.InvalidArgument,
				"source snapshot %s was taken of a %s volume, cannot restore it as %s", snap.ID, snap.AccessType, access)
		}
		err = restoreSnapshot(s.d.snapshotPath(snap), path, access, capacity)
	case srcVolume != "":
		src, ok := s.d.state.Volume(srcVolume)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "source volume %s not found", srcVolume)
		}
		if src.CapacityBytes > capacity {
			return nil, status.Errorf(codes.OutOfRange,
				"source volume %s is %d bytes, more than the requested capacity %d", src.ID, src.CapacityBytes, capacity)
		}
		if src.AccessType != access {
			return nil, status.Errorf(codes.InvalidArgument,
				"source volume %s is a %s volume, cannot clone it as %s", src.ID, src.AccessType, access)
		}
		err = cloneVolume(s.d.volumePath(src), path, access, capacity)
	default:
		err = createEmptyVolume(path, access, capacity)
	}
	if err == nil {
		err = s.d.state.PutVolume(vol)
	}
	if err != nil {
		if rmErr := removeVolumeData(path, access); rmErr != nil {
			log.Printf("cleanup of failed volume %s: %v", vol.ID, rmErr)
		}
		return nil, status.Errorf(codes.Internal, "create volume %q: %v", vol.Name, err)
	}
	return &csi.CreateVolumeResponse{Volume: s.d.csiVolume(vol, req.GetParameters())}, nil
}

func (s *controllerServer) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	vol, ok := s.d.state.Volume(req.GetVolumeId())
	if !ok {
		return &csi.DeleteVolumeResponse{}, nil // already gone
	}
	path := s.d.volumePath(vol)
	if vol.AccessType == BlockAccess {
		if err := detachLoops(path); err != nil {
			return nil, status.Errorf(codes.Internal, "delete volume %s: %v", vol.ID, err)
		}
	}
	if err := removeVolumeData(path, vol.AccessType); err != nil {
		return nil, status.Errorf(codes.Internal, "delete volume %s: %v", vol.ID, err)
	}
	if err := s.d.state.DeleteVolume(vol.ID); err != nil {
		return nil, status.Errorf(codes.Internal, "delete volume %s: %v", vol.ID, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (s *controllerServer) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities missing in request")
	}
	access, err := accessTypeOf(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	vol, ok := s.d.state.Volume(req.GetVolumeId())
	s.d.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	if vol.AccessType != access {
		return &csi.ValidateVolumeCapabilitiesResponse{
			Message: "volume " + vol.ID + " is a " + string(vol.AccessType) + " volume",
		}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

func (s *controllerServer) ListVolumes(_ context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	page, next, err := paginate(s.d.state.Volumes(), func(v Volume) string { return v.ID },
		req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next, Entries: make([]*csi.ListVolumesResponse_Entry, 0, len(page))}
	for _, v := range page {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: s.d.csiVolume(v, nil)})
	}
	return resp, nil
}

func (s *controllerServer) ControllerExpandVolume(_ context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id missing in request")
	}
	r := req.GetCapacityRange()
	if r == nil {
		return nil, status.Error(codes.InvalidArgument, "capacity_range missing in request")
	}
	if r.GetRequiredBytes() < 0 || r.GetLimitBytes() < 0 ||
		(r.GetLimitBytes() > 0 && r.GetLimitBytes() < r.GetRequiredBytes()) {
		return nil, status.Error(codes.InvalidArgument, "invalid capacity_range")
	}
	capacity := r.GetRequiredBytes()
	if capacity == 0 {
		capacity = r.GetLimitBytes()
	}
	if capacity > s.d.maxVolumeSize {
		return nil, status.Errorf(codes.OutOfRange,
			"requested capacity %d exceeds the maximum volume size %d", capacity, s.d.maxVolumeSize)
	}

	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	vol, ok := s.d.state.Volume(req.GetVolumeId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	if capacity > vol.CapacityBytes {
		if vol.AccessType == BlockAccess {
			// Grow the image, and any loop device already showing it: the
			// plugin runs on the only node, so the controller can finish the
			// job and no node expansion is needed for block volumes.
			path := s.d.volumePath(vol)
			if err := growFile(path, capacity); err != nil {
				return nil, status.Errorf(codes.Internal, "expand volume %s: %v", vol.ID, err)
			}
			if err := refreshLoops(path); err != nil {
				return nil, status.Errorf(codes.Internal, "expand volume %s: %v", vol.ID, err)
			}
		}
		vol.CapacityBytes = capacity
		if err := s.d.state.PutVolume(vol); err != nil {
			return nil, status.Errorf(codes.Internal, "expand volume %s: %v", vol.ID, err)
		}
	}
	return &csi.ControllerExpandVolumeResponse{
		CapacityBytes:         vol.CapacityBytes,
		NodeExpansionRequired: vol.AccessType == MountAccess,
	}, nil
}

func (s *controllerServer) CreateSnapshot(_ context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name missing in request")
	}
	if req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "source_volume_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	if ex, ok := s.d.state.SnapshotByName(req.GetName()); ok {
		if ex.SourceVolumeID != req.GetSourceVolumeId() {
			return nil, status.Errorf(codes.AlreadyExists,
				"snapshot %q already exists with source volume %s", ex.Name, ex.SourceVolumeID)
		}
		return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(ex)}, nil
	}
	vol, ok := s.d.state.Volume(req.GetSourceVolumeId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "source volume %s not found", req.GetSourceVolumeId())
	}

	snap := Snapshot{
		ID:             newID(),
		Name:           req.GetName(),
		SourceVolumeID: vol.ID,
		SizeBytes:      vol.CapacityBytes,
		AccessType:     vol.AccessType,
		ReadyToUse:     true,
	}
	// A cut of one: the same flush and file handling as a group member.
	cutAt, err := s.d.takeSnapshots([]Volume{vol}, []Snapshot{snap})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create snapshot %q: %v", snap.Name, err)
	}
	snap.CreationTime = cutAt
	if err := s.d.state.PutSnapshot(snap); err != nil {
		s.d.removeSnapshotFiles([]Snapshot{snap})
		return nil, status.Errorf(codes.Internal, "create snapshot %q: %v", snap.Name, err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(snap)}, nil
}

func (s *controllerServer) DeleteSnapshot(_ context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	snap, ok := s.d.state.Snapshot(req.GetSnapshotId())
	if !ok {
		return &csi.DeleteSnapshotResponse{}, nil // already gone
	}
	// A group member goes only with its group (DeleteVolumeGroupSnapshot);
	// the spec names INVALID_ARGUMENT for this, and upstream refuses too.
	if snap.GroupSnapshotID != "" {
		return nil, status.Errorf(codes.InvalidArgument,
			"snapshot %s is a member of group snapshot %s; delete the group instead", snap.ID, snap.GroupSnapshotID)
	}
	if err := os.Remove(s.d.snapshotPath(snap)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "delete snapshot %s: %v", snap.ID, err)
	}
	if err := s.d.state.DeleteSnapshot(snap.ID); err != nil {
		return nil, status.Errorf(codes.Internal, "delete snapshot %s: %v", snap.ID, err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (s *controllerServer) ListSnapshots(_ context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	s.d.mu.Lock()
	all := s.d.state.Snapshots()
	s.d.mu.Unlock()

	// Both filters may be set; an unknown id simply matches nothing.
	matching := all[:0]
	for _, snap := range all {
		if id := req.GetSnapshotId(); id != "" && snap.ID != id {
			continue
		}
		if id := req.GetSourceVolumeId(); id != "" && snap.SourceVolumeID != id {
			continue
		}
		matching = append(matching, snap)
	}
	page, next, err := paginate(matching, func(s Snapshot) string { return s.ID },
		req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListSnapshotsResponse{NextToken: next, Entries: make([]*csi.ListSnapshotsResponse_Entry, 0, len(page))}
	for _, snap := range page {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(snap)})
	}
	return resp, nil
}

// accessTypeOf reads the access type the capabilities ask for. Each must
// name one, and they must agree.
func accessTypeOf(caps []*csi.VolumeCapability) (AccessType, error) {
	var block, mount bool
	for _, c := range caps {
		switch {
		case c.GetBlock() != nil:
			block = true
		case c.GetMount() != nil:
			mount = true
		default:
			return "", status.Error(codes.InvalidArgument, "volume capability without access type")
		}
		if c.GetAccessMode() == nil {
			return "", status.Error(codes.InvalidArgument, "volume capability without access mode")
		}
	}
	if block && mount {
		return "", status.Error(codes.InvalidArgument, "cannot have both block and mount access type")
	}
	if block {
		return BlockAccess, nil
	}
	return MountAccess, nil
}

// contentSourceIDs returns the snapshot or volume id a CreateVolume request
// wants its data from (both empty for an empty volume).
func contentSourceIDs(src *csi.VolumeContentSource) (snapshotID, volumeID string, err error) {
	if src == nil {
		return "", "", nil
	}
	switch t := src.GetType().(type) {
	case *csi.VolumeContentSource_Snapshot:
		if id := t.Snapshot.GetSnapshotId(); id != "" {
			return id, "", nil
		}
	case *csi.VolumeContentSource_Volume:
		if id := t.Volume.GetVolumeId(); id != "" {
			return "", id, nil
		}
	}
	return "", "", status.Error(codes.InvalidArgument, "volume_content_source names neither a snapshot nor a volume")
}

// csiVolume renders a volume for CreateVolume and ListVolumes.
func (d *driver) csiVolume(v Volume, params map[string]string) *csi.Volume {
	out := &csi.Volume{
		VolumeId:           v.ID,
		CapacityBytes:      v.CapacityBytes,
		VolumeContext:      params,
		AccessibleTopology: []*csi.Topology{d.topology()},
	}
	switch {
	case v.SourceSnapshotID != "":
		out.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.SourceSnapshotID},
		}}
	case v.SourceVolumeID != "":
		out.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.SourceVolumeID},
		}}
	}
	return out
}

// csiSnapshot renders a snapshot for CreateSnapshot, ListSnapshots and the
// group snapshot calls.
func csiSnapshot(s Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:      s.ID,
		SourceVolumeId:  s.SourceVolumeID,
		SizeBytes:       s.SizeBytes,
		CreationTime:    timestamppb.New(s.CreationTime),
		ReadyToUse:      s.ReadyToUse,
		GroupSnapshotId: s.GroupSnapshotID,
	}
}
