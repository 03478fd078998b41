// groupcontroller.go implements the CSI GroupController service: volume group
// snapshots (create, delete, get), with the semantics of the CSI spec and of
// upstream's hostpathplugin, so the csi-snapshotter's VolumeGroupSnapshot
// support sees the same behaviour here as against the real driver.
//
// A group snapshot is a set of member snapshots cut together (see cut.go).
// Every member is also an ordinary snapshot: ListSnapshots lists it (with its
// group_snapshot_id) and CreateVolume restores it. It can only be deleted
// with its group: DeleteSnapshot refuses it with INVALID_ARGUMENT, as the
// spec allows and upstream does.

package main

import (
	"context"
	"errors"
	"log"
	"os"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type groupControllerServer struct {
	csi.UnimplementedGroupControllerServer
	d *driver
}

func (s *groupControllerServer) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return &csi.GroupControllerGetCapabilitiesResponse{Capabilities: []*csi.GroupControllerServiceCapability{{
		Type: &csi.GroupControllerServiceCapability_Rpc{Rpc: &csi.GroupControllerServiceCapability_RPC{
			Type: csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT,
		}},
	}}}, nil
}

func (s *groupControllerServer) CreateVolumeGroupSnapshot(_ context.Context, req *csi.CreateVolumeGroupSnapshotRequest) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name missing in request")
	}
	ids := req.GetSourceVolumeIds()
	if len(ids) == 0 {
		return nil, status.Error(codes.InvalidArgument, "source_volume_ids missing in request")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, status.Error(codes.InvalidArgument, "source_volume_ids holds an empty volume id")
		}
		// One volume cannot be two members of a group; a CO never asks for
		// it, and refusing it keeps "same volumes" a plain set comparison.
		if seen[id] {
			return nil, status.Errorf(codes.InvalidArgument, "source_volume_ids lists volume %s twice", id)
		}
		seen[id] = true
	}

	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	// A retry is answered from the record even if a source volume has been
	// deleted since: the group exists, and its members do not depend on the
	// sources. Parameters are not compared: this driver reads none, so any
	// parameters describe the same group.
	if ex, ok := s.d.state.GroupSnapshotByName(req.GetName()); ok {
		if !sameIDs(ex.SourceVolumeIDs, ids) {
			return nil, status.Errorf(codes.AlreadyExists,
				"group snapshot %q already exists with source volumes %v", ex.Name, ex.SourceVolumeIDs)
		}
		gs, err := s.d.csiGroupSnapshot(ex)
		if err != nil {
			return nil, err
		}
		return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: gs}, nil
	}

	// Every source must exist before anything is cut, so a bad request
	// leaves nothing behind.
	vols := make([]Volume, len(ids))
	for i, id := range ids {
		vol, ok := s.d.state.Volume(id)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "source volume %s not found", id)
		}
		vols[i] = vol
	}

	group := GroupSnapshot{
		ID:              newID(),
		Name:            req.GetName(),
		SourceVolumeIDs: slices.Clone(ids),
		SnapshotIDs:     make([]string, len(vols)),
	}
	members := make([]Snapshot, len(vols))
	for i, vol := range vols {
		members[i] = Snapshot{
			ID: newID(),
			// Informational (state.json readers see which group and volume a
			// member belongs to); CreateSnapshot never matches it by name.
			Name:            group.Name + "-" + vol.ID,
			SourceVolumeID:  vol.ID,
			SizeBytes:       vol.CapacityBytes,
			AccessType:      vol.AccessType,
			ReadyToUse:      true,
			GroupSnapshotID: group.ID,
		}
		group.SnapshotIDs[i] = members[i].ID
	}

	cutAt, err := s.d.takeSnapshots(vols, members)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create group snapshot %q: %v", group.Name, err)
	}
	group.CreationTime = cutAt
	for i := range members {
		members[i].CreationTime = cutAt
	}
	if err := s.d.state.PutGroupSnapshot(group, members); err != nil {
		s.d.removeSnapshotFiles(members)
		return nil, status.Errorf(codes.Internal, "create group snapshot %q: %v", group.Name, err)
	}
	gs, err := s.d.csiGroupSnapshot(group)
	if err != nil {
		return nil, err
	}
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: gs}, nil
}

func (s *groupControllerServer) DeleteVolumeGroupSnapshot(_ context.Context, req *csi.DeleteVolumeGroupSnapshotRequest) (*csi.DeleteVolumeGroupSnapshotResponse, error) {
	if req.GetGroupSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "group_snapshot_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	group, ok := s.d.state.GroupSnapshot(req.GetGroupSnapshotId())
	if !ok {
		return &csi.DeleteVolumeGroupSnapshotResponse{}, nil // already gone
	}
	// snapshot_ids is REQUIRED and the spec asks a plugin that can detect a
	// mismatch to report it, so a wrong (or missing) list deletes nothing.
	if !sameIDs(group.SnapshotIDs, req.GetSnapshotIds()) {
		return nil, status.Errorf(codes.InvalidArgument,
			"snapshot_ids %v do not match the members %v of group snapshot %s",
			req.GetSnapshotIds(), group.SnapshotIDs, group.ID)
	}
	var members []Snapshot
	for _, id := range group.SnapshotIDs {
		if snap, ok := s.d.state.Snapshot(id); ok {
			members = append(members, snap)
		}
	}
	// Files first, then the record: a failure in between leaves a record
	// whose files are gone, which a retried delete finishes.
	for _, snap := range members {
		if err := os.Remove(s.d.snapshotPath(snap)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, status.Errorf(codes.Internal, "delete group snapshot %s: member %s: %v", group.ID, snap.ID, err)
		}
	}
	if err := s.d.state.DeleteGroupSnapshot(group.ID); err != nil {
		return nil, status.Errorf(codes.Internal, "delete group snapshot %s: %v", group.ID, err)
	}
	return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
}

func (s *groupControllerServer) GetVolumeGroupSnapshot(_ context.Context, req *csi.GetVolumeGroupSnapshotRequest) (*csi.GetVolumeGroupSnapshotResponse, error) {
	if req.GetGroupSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "group_snapshot_id missing in request")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()

	group, ok := s.d.state.GroupSnapshot(req.GetGroupSnapshotId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "group snapshot %s not found", req.GetGroupSnapshotId())
	}
	if !sameIDs(group.SnapshotIDs, req.GetSnapshotIds()) {
		return nil, status.Errorf(codes.InvalidArgument,
			"snapshot_ids %v do not match the members %v of group snapshot %s",
			req.GetSnapshotIds(), group.SnapshotIDs, group.ID)
	}
	gs, err := s.d.csiGroupSnapshot(group)
	if err != nil {
		return nil, err
	}
	return &csi.GetVolumeGroupSnapshotResponse{GroupSnapshot: gs}, nil
}

// csiGroupSnapshot renders a group snapshot with its members, in the order
// of the request that created it.
func (d *driver) csiGroupSnapshot(g GroupSnapshot) (*csi.VolumeGroupSnapshot, error) {
	out := &csi.VolumeGroupSnapshot{
		GroupSnapshotId: g.ID,
		CreationTime:    timestamppb.New(g.CreationTime),
		ReadyToUse:      true,
		Snapshots:       make([]*csi.Snapshot, 0, len(g.SnapshotIDs)),
	}
	for _, id := range g.SnapshotIDs {
		snap, ok := d.state.Snapshot(id)
		if !ok {
			// Groups and members are saved and deleted together, so this
			// is a damaged state.json, not a race.
			return nil, status.Errorf(codes.Internal, "group snapshot %s: member snapshot %s is not recorded", g.ID, id)
		}
		out.Snapshots = append(out.Snapshots, csiSnapshot(snap))
		out.ReadyToUse = out.ReadyToUse && snap.ReadyToUse
	}
	return out, nil
}

// removeSnapshotFiles deletes the data files of snapshots the state does not
// record (a cut whose record could not be saved).
func (d *driver) removeSnapshotFiles(snaps []Snapshot) {
	for _, snap := range snaps {
		if err := os.Remove(d.snapshotPath(snap)); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Printf("cleanup of unrecorded snapshot %s: %v", snap.ID, err)
		}
	}
}

// sameIDs reports whether two id lists hold the same ids, in any order.
func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
