// groupcontroller_test.go checks volume group snapshots against a driver on a
// temporary state directory, calling the CSI handlers directly: one cut under
// the driver's lock, members as ordinary snapshots (listed, restorable, not
// deletable alone), idempotency by name, error codes, deletion and a restart.
// Mount volumes need no root; block volumes need losetup (to look for loop
// devices to flush), and the loop device test needs root.

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const testVolumeSize = 16 << 20

// testDriver is a driver on a temporary state directory with its servers.
type testDriver struct {
	t     *testing.T
	d     *driver
	ctrl  *controllerServer
	group *groupControllerServer
}

func newTestDriver(t *testing.T, stateDir string) *testDriver {
	t.Helper()
	d, err := openDriver("hostpath.csi.k8s.io", "test-node", stateDir, gib)
	if err != nil {
		t.Fatal(err)
	}
	return &testDriver{t: t, d: d, ctrl: &controllerServer{d: d}, group: &groupControllerServer{d: d}}
}

func testCapability(access AccessType) *csi.VolumeCapability {
	c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{
		Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
	}}
	if access == BlockAccess {
		c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}
	}
	return c
}

// createVolume makes a volume, restored from snapshotID if that is set.
func (td *testDriver) createVolume(name string, access AccessType, snapshotID string) (Volume, error) {
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: testVolumeSize},
		VolumeCapabilities: []*csi.VolumeCapability{testCapability(access)},
	}
	if snapshotID != "" {
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID},
		}}
	}
	resp, err := td.ctrl.CreateVolume(context.Background(), req)
	if err != nil {
		return Volume{}, err
	}
	vol, _ := td.d.state.Volume(resp.GetVolume().GetVolumeId())
	return vol, nil
}

func (td *testDriver) mustCreateVolume(name string, access AccessType) Volume {
	td.t.Helper()
	vol, err := td.createVolume(name, access, "")
	if err != nil {
		td.t.Fatalf("create volume %s: %v", name, err)
	}
	return vol
}

// blockOffsets are where block test data goes: the start, and past a hole.
var blockOffsets = []int64{0, 8 << 20}

// writeData puts content into a volume: a file in a mount volume, or the
// same bytes at blockOffsets in a block image.
func (td *testDriver) writeData(vol Volume, content string) {
	td.t.Helper()
	path := td.d.volumePath(vol)
	if vol.AccessType == MountAccess {
		if err := os.WriteFile(filepath.Join(path, "data"), []byte(content), 0o600); err != nil {
			td.t.Fatal(err)
		}
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		td.t.Fatal(err)
	}
	defer f.Close()
	for _, off := range blockOffsets {
		if _, err := f.WriteAt([]byte(content), off); err != nil {
			td.t.Fatal(err)
		}
	}
}

// readData returns what writeData put into a volume (n bytes for block).
func (td *testDriver) readData(vol Volume, n int) string {
	td.t.Helper()
	path := td.d.volumePath(vol)
	if vol.AccessType == MountAccess {
		data, err := os.ReadFile(filepath.Join(path, "data"))
		if err != nil {
			td.t.Fatal(err)
		}
		return string(data)
	}
	f, err := os.Open(path)
	if err != nil {
		td.t.Fatal(err)
	}
	defer f.Close()
	var got []string
	for _, off := range blockOffsets {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil {
			td.t.Fatal(err)
		}
		got = append(got, string(buf))
	}
	if got[0] != got[1] {
		td.t.Fatalf("block volume %s holds %q at %d but %q at %d", vol.ID, got[0], blockOffsets[0], got[1], blockOffsets[1])
	}
	return got[0]
}

func (td *testDriver) createGroup(name string, ids ...string) (*csi.VolumeGroupSnapshot, error) {
	resp, err := td.group.CreateVolumeGroupSnapshot(context.Background(), &csi.CreateVolumeGroupSnapshotRequest{
		Name: name, SourceVolumeIds: ids,
	})
	return resp.GetGroupSnapshot(), err
}

func (td *testDriver) mustCreateGroup(name string, ids ...string) *csi.VolumeGroupSnapshot {
	td.t.Helper()
	g, err := td.createGroup(name, ids...)
	if err != nil {
		td.t.Fatalf("create group snapshot %s: %v", name, err)
	}
	return g
}

func memberIDs(g *csi.VolumeGroupSnapshot) []string {
	var ids []string
	for _, s := range g.GetSnapshots() {
		ids = append(ids, s.GetSnapshotId())
	}
	return ids
}

// memberOf returns the member snapshot of volumeID.
func memberOf(t *testing.T, g *csi.VolumeGroupSnapshot, volumeID string) *csi.Snapshot {
	t.Helper()
	for _, s := range g.GetSnapshots() {
		if s.GetSourceVolumeId() == volumeID {
			return s
		}
	}
	t.Fatalf("group snapshot %s has no member of volume %s", g.GetGroupSnapshotId(), volumeID)
	return nil
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: code %v (%v), want %v", what, got, err, want)
	}
}

func needLosetup(t *testing.T, access AccessType) {
	t.Helper()
	if access != BlockAccess {
		return
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("block volumes need losetup")
	}
}

func TestGroupControllerAdvertised(t *testing.T) {
	td := newTestDriver(t, t.TempDir())
	caps, err := td.group.GroupControllerGetCapabilities(context.Background(), &csi.GroupControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(caps.GetCapabilities()) != 1 || caps.GetCapabilities()[0].GetRpc().GetType() !=
		csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT {
		t.Errorf("group controller capabilities = %v", caps.GetCapabilities())
	}
	plugin, err := (&identityServer{d: td.d}).GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range plugin.GetCapabilities() {
		found = found || c.GetService().GetType() == csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE
	}
	if !found {
		t.Error("GetPluginCapabilities does not offer GROUP_CONTROLLER_SERVICE")
	}
}

// TestGroupSnapshotOneCut takes a group snapshot of two volumes (a third stays
// out), checks that the driver's lock is held through the whole cut and
// that a DeleteVolume issued mid-cut waits for it, then restores every
// member after the sources have changed.
func TestGroupSnapshotOneCut(t *testing.T) {
	for _, access := range []AccessType{MountAccess, BlockAccess} {
		t.Run(string(access), func(t *testing.T) {
			needLosetup(t, access)
			td := newTestDriver(t, t.TempDir())
			a := td.mustCreateVolume("vol-a", access)
			b := td.mustCreateVolume("vol-b", access)
			other := td.mustCreateVolume("vol-other", access)
			td.writeData(a, "a-before")
			td.writeData(b, "b-before")
			td.writeData(other, "o-before")

			var cut []int
			deleted := make(chan error, 1)
			td.d.afterCut = func(member int) {
				if td.d.mu.TryLock() {
					td.d.mu.Unlock()
					t.Errorf("driver lock free after cutting member %d", member)
				}
				cut = append(cut, member)
				if member == 0 {
					// A CSI call changing the next member must wait until
					// the cut is over. The pause gives it every chance not to.
					go func() {
						_, err := td.ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: b.ID})
						deleted <- err
					}()
					time.Sleep(50 * time.Millisecond)
				}
			}
			g := td.mustCreateGroup("group-1", a.ID, b.ID)
			td.d.afterCut = nil
			if err := <-deleted; err != nil {
				t.Fatalf("DeleteVolume after the cut: %v", err)
			}
			if !slices.Equal(cut, []int{0, 1}) {
				t.Errorf("members cut: %v, want [0 1]", cut)
			}

			if g.GetGroupSnapshotId() == "" || !g.GetReadyToUse() || len(g.GetSnapshots()) != 2 {
				t.Fatalf("group snapshot = %v", g)
			}
			for i, s := range g.GetSnapshots() {
				if want := []string{a.ID, b.ID}[i]; s.GetSourceVolumeId() != want {
					t.Errorf("member %d is of volume %s, want %s (request order)", i, s.GetSourceVolumeId(), want)
				}
				if s.GetGroupSnapshotId() != g.GetGroupSnapshotId() {
					t.Errorf("member %s has group_snapshot_id %q", s.GetSnapshotId(), s.GetGroupSnapshotId())
				}
				if !s.GetCreationTime().AsTime().Equal(g.GetCreationTime().AsTime()) {
					t.Errorf("member %s created %v, group %v: not one cut", s.GetSnapshotId(),
						s.GetCreationTime().AsTime(), g.GetCreationTime().AsTime())
				}
				if !s.GetReadyToUse() || s.GetSizeBytes() != testVolumeSize {
					t.Errorf("member %v", s)
				}
			}

			// Members are ordinary snapshots to ListSnapshots.
			list, err := td.ctrl.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]string{}
			for _, e := range list.GetEntries() {
				listed[e.GetSnapshot().GetSnapshotId()] = e.GetSnapshot().GetGroupSnapshotId()
			}
			for _, id := range memberIDs(g) {
				if listed[id] != g.GetGroupSnapshotId() {
					t.Errorf("ListSnapshots: member %s listed with group %q", id, listed[id])
				}
			}

			// Each member restores its volume as it was at the cut.
			td.writeData(a, "a-after!")
			for _, m := range []struct {
				vol  Volume
				want string
			}{{a, "a-before"}, {b, "b-before"}} {
				restored, err := td.createVolume("restore-"+m.vol.Name, access, memberOf(t, g, m.vol.ID).GetSnapshotId())
				if err != nil {
					t.Fatalf("restore member of %s: %v", m.vol.Name, err)
				}
				if got := td.readData(restored, len(m.want)); got != m.want {
					t.Errorf("restored member of %s holds %q, want %q", m.vol.Name, got, m.want)
				}
			}
		})
	}
}

func TestGroupSnapshotIdempotentByName(t *testing.T) {
	td := newTestDriver(t, t.TempDir())
	a := td.mustCreateVolume("vol-a", MountAccess)
	b := td.mustCreateVolume("vol-b", MountAccess)
	c := td.mustCreateVolume("vol-c", MountAccess)
	g := td.mustCreateGroup("group", a.ID, b.ID)

	// The same volumes in another order are the same request.
	again := td.mustCreateGroup("group", b.ID, a.ID)
	if again.GetGroupSnapshotId() != g.GetGroupSnapshotId() || !slices.Equal(memberIDs(again), memberIDs(g)) {
		t.Errorf("retry returned %v, want %v", again, g)
	}
	if !again.GetCreationTime().AsTime().Equal(g.GetCreationTime().AsTime()) {
		t.Error("retry changed the creation time")
	}
	for _, ids := range [][]string{{a.ID}, {a.ID, c.ID}, {a.ID, b.ID, c.ID}} {
		_, err := td.createGroup("group", ids...)
		wantCode(t, "same name, volumes "+filepath.Join(ids...), err, codes.AlreadyExists)
	}
	if n := len(td.d.state.Snapshots()); n != 2 {
		t.Errorf("%d snapshots recorded, want the group's 2", n)
	}

	// A retry after a source volume is gone still finds the group.
	if _, err := td.ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: a.ID}); err != nil {
		t.Fatal(err)
	}
	if late := td.mustCreateGroup("group", a.ID, b.ID); late.GetGroupSnapshotId() != g.GetGroupSnapshotId() {
		t.Errorf("retry after deleting a source made group %s, want %s", late.GetGroupSnapshotId(), g.GetGroupSnapshotId())
	}

	// CreateSnapshot does not match a member by its derived name.
	member := memberOf(t, g, b.ID)
	memberRecord, _ := td.d.state.Snapshot(member.GetSnapshotId())
	snap, err := td.ctrl.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: memberRecord.Name, SourceVolumeId: b.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetSnapshot().GetSnapshotId() == member.GetSnapshotId() || snap.GetSnapshot().GetGroupSnapshotId() != "" {
		t.Errorf("CreateSnapshot named like a member returned %v", snap.GetSnapshot())
	}
}

func TestGroupSnapshotErrors(t *testing.T) {
	td := newTestDriver(t, t.TempDir())
	a := td.mustCreateVolume("vol-a", MountAccess)
	b := td.mustCreateVolume("vol-b", MountAccess)
	unknown := newID()

	for _, tc := range []struct {
		what string
		name string
		ids  []string
		want codes.Code
	}{
		{"no name", "", []string{a.ID}, codes.InvalidArgument},
		{"no volumes", "g", nil, codes.InvalidArgument},
		{"empty volume id", "g", []string{a.ID, ""}, codes.InvalidArgument},
		{"volume twice", "g", []string{a.ID, b.ID, a.ID}, codes.InvalidArgument},
		{"unknown volume", "g", []string{a.ID, unknown}, codes.NotFound},
	} {
		_, err := td.createGroup(tc.name, tc.ids...)
		wantCode(t, "create: "+tc.what, err, tc.want)
	}
	// The refused requests cut nothing.
	if n := len(td.d.state.Snapshots()) + len(td.d.state.GroupSnapshots()); n != 0 {
		t.Errorf("refused creates left %d records", n)
	}
	if entries, _ := os.ReadDir(filepath.Join(td.d.stateDir, "snapshots")); len(entries) != 0 {
		t.Errorf("refused creates left files %v", entries)
	}

	g := td.mustCreateGroup("g", a.ID, b.ID)
	ids := memberIDs(g)
	ctx := context.Background()
	get := func(id string, snapshotIDs ...string) error {
		_, err := td.group.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: id, SnapshotIds: snapshotIDs})
		return err
	}
	del := func(id string, snapshotIDs ...string) error {
		_, err := td.group.DeleteVolumeGroupSnapshot(ctx, &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: id, SnapshotIds: snapshotIDs})
		return err
	}
	wantCode(t, "get: no id", get(""), codes.InvalidArgument)
	wantCode(t, "get: unknown id", get(unknown), codes.NotFound)
	wantCode(t, "get: unknown id, not a uuid", get("no-such-group"), codes.NotFound)
	wantCode(t, "get: no snapshot ids", get(g.GetGroupSnapshotId()), codes.InvalidArgument)
	wantCode(t, "get: one member", get(g.GetGroupSnapshotId(), ids[0]), codes.InvalidArgument)
	wantCode(t, "get: a stranger", get(g.GetGroupSnapshotId(), ids[0], unknown), codes.InvalidArgument)
	wantCode(t, "get: members reversed", get(g.GetGroupSnapshotId(), ids[1], ids[0]), codes.OK)

	wantCode(t, "delete: no id", del(""), codes.InvalidArgument)
	wantCode(t, "delete: unknown id", del(unknown), codes.OK)
	wantCode(t, "delete: unknown id, not a uuid", del("no-such-group", ids...), codes.OK)
	wantCode(t, "delete: no snapshot ids", del(g.GetGroupSnapshotId()), codes.InvalidArgument)
	wantCode(t, "delete: one member", del(g.GetGroupSnapshotId(), ids[0]), codes.InvalidArgument)
	if _, ok := td.d.state.GroupSnapshot(g.GetGroupSnapshotId()); !ok || len(td.d.state.Snapshots()) != 2 {
		t.Error("a refused DeleteVolumeGroupSnapshot deleted something")
	}
}

func TestGroupSnapshotDelete(t *testing.T) {
	td := newTestDriver(t, t.TempDir())
	ctx := context.Background()
	a := td.mustCreateVolume("vol-a", MountAccess)
	b := td.mustCreateVolume("vol-b", MountAccess)
	td.writeData(a, "kept")
	single, err := td.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "single", SourceVolumeId: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	g := td.mustCreateGroup("g", a.ID, b.ID)
	restored, err := td.createVolume("restored", MountAccess, memberOf(t, g, a.ID).GetSnapshotId())
	if err != nil {
		t.Fatal(err)
	}

	// A member cannot be deleted alone.
	_, err = td.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: memberIDs(g)[0]})
	wantCode(t, "DeleteSnapshot of a member", err, codes.InvalidArgument)

	req := &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: memberIDs(g)}
	for i := range 2 { // the second time finds nothing, which is success
		if _, err := td.group.DeleteVolumeGroupSnapshot(ctx, req); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	_, err = td.group.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: memberIDs(g),
	})
	wantCode(t, "get after delete", err, codes.NotFound)
	for _, id := range memberIDs(g) {
		if _, ok := td.d.state.Snapshot(id); ok {
			t.Errorf("member %s still recorded", id)
		}
		_, err := td.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
		wantCode(t, "DeleteSnapshot of a deleted member", err, codes.OK)
	}
	// Only the single snapshot's file is left; the volume restored from a
	// member and the single snapshot are untouched.
	entries, err := os.ReadDir(filepath.Join(td.d.stateDir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != single.GetSnapshot().GetSnapshotId()+".tgz" {
		t.Errorf("snapshots/ holds %v, want only the single snapshot", entries)
	}
	if got := td.readData(restored, 0); got != "kept" {
		t.Errorf("volume restored from a deleted member holds %q", got)
	}
	if _, err := td.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: single.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Errorf("delete the single snapshot: %v", err)
	}
}

func TestGroupSnapshotSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	td := newTestDriver(t, dir)
	a := td.mustCreateVolume("vol-a", MountAccess)
	b := td.mustCreateVolume("vol-b", MountAccess)
	td.writeData(b, "b-data")
	g := td.mustCreateGroup("g", a.ID, b.ID)

	restarted := newTestDriver(t, dir)
	ctx := context.Background()
	got, err := restarted.group.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: memberIDs(g),
	})
	if err != nil {
		t.Fatal(err)
	}
	gs := got.GetGroupSnapshot()
	if !slices.Equal(memberIDs(gs), memberIDs(g)) || !gs.GetCreationTime().AsTime().Equal(g.GetCreationTime().AsTime()) ||
		memberOf(t, gs, a.ID).GetGroupSnapshotId() != g.GetGroupSnapshotId() {
		t.Errorf("after restart: %v, want %v", gs, g)
	}
	if again := restarted.mustCreateGroup("g", a.ID, b.ID); again.GetGroupSnapshotId() != g.GetGroupSnapshotId() {
		t.Errorf("retry after restart made group %s, want %s", again.GetGroupSnapshotId(), g.GetGroupSnapshotId())
	}
	_, err = restarted.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: memberIDs(g)[0]})
	wantCode(t, "DeleteSnapshot of a member after restart", err, codes.InvalidArgument)
	vol, err := restarted.createVolume("restored", MountAccess, memberOf(t, g, b.ID).GetSnapshotId())
	if err != nil {
		t.Fatal(err)
	}
	if data := restarted.readData(vol, 0); data != "b-data" {
		t.Errorf("restored after restart: %q", data)
	}
	if _, err := restarted.group.DeleteVolumeGroupSnapshot(ctx, &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: memberIDs(g),
	}); err != nil {
		t.Fatal(err)
	}
	if final := newTestDriver(t, dir); len(final.d.state.GroupSnapshots()) != 0 || len(final.d.state.Snapshots()) != 0 {
		t.Error("deleted group snapshot back after another restart")
	}
}

// TestSnapshotFlushesLoopDevice writes to a block volume through a loop
// device, as a pod does, without syncing, and checks that a group member
// cut right after holds the write: it may still sit in the loop device's
// page cache, where a copy of the image file alone would miss it.
func TestSnapshotFlushesLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	needLosetup(t, BlockAccess)
	td := newTestDriver(t, t.TempDir())
	vol := td.mustCreateVolume("vol", BlockAccess)
	other := td.mustCreateVolume("other", BlockAccess)
	img := td.d.volumePath(vol)
	dev, err := attachLoop(img)
	if err != nil {
		t.Skipf("cannot attach a loop device: %v", err)
	}
	t.Cleanup(func() {
		if err := runCmd("losetup", "--detach", dev); err != nil {
			t.Errorf("detach %s: %v", dev, err)
		}
	})
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Kept open through the snapshot, as a pod holds its device: the last
	// close of a block device flushes it, which would hide a missing flush.
	defer f.Close()
	want := bytes.Repeat([]byte("written through the loop device;"), 128)
	if _, err := f.WriteAt(want, 1<<20); err != nil {
		t.Fatal(err)
	}

	g := td.mustCreateGroup("g", vol.ID, other.ID)
	restored, err := td.createVolume("restored", BlockAccess, memberOf(t, g, vol.ID).GetSnapshotId())
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	rf, err := os.Open(td.d.volumePath(restored))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	if _, err := rf.ReadAt(got, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the member snapshot misses a write made through the loop device before the cut")
	}
}

// TestSingleSnapshotRestores covers CreateSnapshot, a cut of one, which
// compresses and syncs as it copies instead of after the cut.
func TestSingleSnapshotRestores(t *testing.T) {
	for _, access := range []AccessType{MountAccess, BlockAccess} {
		t.Run(string(access), func(t *testing.T) {
			needLosetup(t, access)
			td := newTestDriver(t, t.TempDir())
			vol := td.mustCreateVolume("vol", access)
			td.writeData(vol, "before")
			snap, err := td.ctrl.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: vol.ID})
			if err != nil {
				t.Fatal(err)
			}
			if s := snap.GetSnapshot(); s.GetGroupSnapshotId() != "" || !s.GetReadyToUse() || s.GetCreationTime().AsTime().IsZero() {
				t.Errorf("snapshot = %v", s)
			}
			td.writeData(vol, "after!")
			restored, err := td.createVolume("restored", access, snap.GetSnapshot().GetSnapshotId())
			if err != nil {
				t.Fatal(err)
			}
			if got := td.readData(restored, len("before")); got != "before" {
				t.Errorf("restored %q, want %q", got, "before")
			}
			entries, _ := os.ReadDir(filepath.Join(td.d.stateDir, "snapshots"))
			if len(entries) != 1 {
				t.Errorf("snapshots/ holds %v, want one finished file", entries)
			}
		})
	}
}
