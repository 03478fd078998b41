// state_test.go checks that state.json round-trips and is replaced
// atomically.

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")

	s, err := LoadState(path)
	if err != nil {
		t.Fatalf("load missing file: %v", err)
	}
	if len(s.Volumes()) != 0 || len(s.Snapshots()) != 0 {
		t.Fatal("new state is not empty")
	}

	now := time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC)
	vols := []Volume{
		{ID: newID(), Name: "pvc-a", CapacityBytes: gib, AccessType: MountAccess, CreatedAt: now},
		{ID: newID(), Name: "pvc-b", CapacityBytes: 2 * gib, AccessType: BlockAccess, SourceVolumeID: "x", CreatedAt: now},
	}
	snap := Snapshot{ID: newID(), Name: "snap-a", SourceVolumeID: vols[0].ID, SizeBytes: gib,
		AccessType: MountAccess, CreationTime: now, ReadyToUse: true}
	for _, v := range vols {
		if err := s.PutVolume(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSnapshot(snap); err != nil {
		t.Fatal(err)
	}

	loaded, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Volumes(), s.Volumes()) {
		t.Errorf("volumes after reload = %+v, want %+v", loaded.Volumes(), s.Volumes())
	}
	if got, ok := loaded.Snapshot(snap.ID); !ok || !reflect.DeepEqual(got, snap) {
		t.Errorf("snapshot after reload = %+v, want %+v", got, snap)
	}
	if got, ok := loaded.VolumeByName("pvc-b"); !ok || got.ID != vols[1].ID {
		t.Errorf("VolumeByName(pvc-b) = %+v, %v", got, ok)
	}
	if _, ok := loaded.SnapshotByName("snap-a"); !ok {
		t.Error("SnapshotByName(snap-a) not found")
	}

	if err := loaded.DeleteVolume(vols[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := loaded.DeleteSnapshot(snap.ID); err != nil {
		t.Fatal(err)
	}
	if err := loaded.DeleteSnapshot("never-existed"); err != nil {
		t.Fatal(err)
	}
	again, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Volumes()) != 1 || len(again.Snapshots()) != 0 {
		t.Errorf("after deletes: %d volumes, %d snapshots; want 1, 0", len(again.Volumes()), len(again.Snapshots()))
	}

	// Only state.json is left: no temporary files.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "state.json" {
		t.Errorf("directory holds %v, want only state.json", entries)
	}
}

func TestStateRollsBackOnFailedSave(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadState(filepath.Join(dir, "missing-dir", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutVolume(Volume{ID: newID(), Name: "v"}); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
	if len(s.Volumes()) != 0 {
		t.Error("failed PutVolume left the volume in memory")
	}
}

func TestLoadStateRejectsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); err == nil {
		t.Fatal("corrupt state.json loaded without error")
	}
}

// A state.json written before group snapshots existed has no groupSnapshots
// key; it must load, and the next save adds the key.
func TestLoadStateWithoutGroupSnapshots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"volumes": [{"id": "v1", "name": "pvc-1", "capacityBytes": 1, "accessType": "mount", "createdAt": "2026-01-01T00:00:00Z"}],
"snapshots": [{"id": "s1", "name": "snap-1", "sourceVolumeID": "v1", "sizeBytes": 1, "accessType": "mount", "creationTime": "2026-01-01T00:00:00Z", "readyToUse": true}]}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Volumes()) != 1 || len(s.Snapshots()) != 1 || len(s.GroupSnapshots()) != 0 {
		t.Fatalf("loaded %d volumes, %d snapshots, %d groups", len(s.Volumes()), len(s.Snapshots()), len(s.GroupSnapshots()))
	}
	if snap, _ := s.Snapshot("s1"); snap.GroupSnapshotID != "" {
		t.Errorf("old snapshot loaded as a member of %q", snap.GroupSnapshotID)
	}
	g := GroupSnapshot{ID: newID(), Name: "g", SourceVolumeIDs: []string{"v1"}, SnapshotIDs: []string{"m1"}}
	if err := s.PutGroupSnapshot(g, []Snapshot{{ID: "m1", Name: "g-v1", SourceVolumeID: "v1", GroupSnapshotID: g.ID}}); err != nil {
		t.Fatal(err)
	}
	again, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := again.GroupSnapshot(g.ID); !ok || !reflect.DeepEqual(got.SnapshotIDs, []string{"m1"}) {
		t.Errorf("group after reload = %+v, %v", got, ok)
	}
	if m, _ := again.Snapshot("m1"); m.GroupSnapshotID != g.ID {
		t.Errorf("member after reload = %+v", m)
	}
}

// A group and its members are saved, and rolled back, as one.
func TestPutGroupSnapshotRollsBackOnFailedSave(t *testing.T) {
	s, err := LoadState(filepath.Join(t.TempDir(), "missing-dir", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := GroupSnapshot{ID: newID(), Name: "g", SourceVolumeIDs: []string{"v1", "v2"}, SnapshotIDs: []string{"m1", "m2"}}
	members := []Snapshot{{ID: "m1", GroupSnapshotID: g.ID}, {ID: "m2", GroupSnapshotID: g.ID}}
	if err := s.PutGroupSnapshot(g, members); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
	if len(s.GroupSnapshots()) != 0 || len(s.Snapshots()) != 0 {
		t.Error("failed PutGroupSnapshot left records in memory")
	}
}
