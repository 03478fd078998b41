// state.go holds the plugin's record of its volumes, snapshots and volume
// group snapshots, persisted as state.json in the state directory. It exists
// so that a restarted plugin still knows everything it created (kubelet and
// the sidecars keep referring to it by id), and so the record on disk is never
// half written: every change is saved to a temporary file and renamed into
// place.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// AccessType is how a volume is consumed: a directory or a raw block file.
type AccessType string

const (
	// MountAccess volumes are directories bind-mounted into pods.
	MountAccess AccessType = "mount"
	// BlockAccess volumes are sparse image files exposed through a loop device.
	BlockAccess AccessType = "block"
)

// Volume is one provisioned volume.
type Volume struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	CapacityBytes int64      `json:"capacityBytes"`
	AccessType    AccessType `json:"accessType"`
	// At most one of the two source fields is set: the volume was restored
	// from that snapshot or cloned from that volume.
	SourceSnapshotID string    `json:"sourceSnapshotID,omitempty"`
	SourceVolumeID   string    `json:"sourceVolumeID,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
}

// Snapshot is one snapshot of a volume. Its data stays valid after the
// source volume is deleted.
type Snapshot struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	SourceVolumeID string     `json:"sourceVolumeID"`
	SizeBytes      int64      `json:"sizeBytes"`
	AccessType     AccessType `json:"accessType"`
	CreationTime   time.Time  `json:"creationTime"`
	ReadyToUse     bool       `json:"readyToUse"`
	// GroupSnapshotID is set on the members of a volume group snapshot. Such
	// a snapshot lives and dies with its group: DeleteSnapshot refuses it.
	GroupSnapshotID string `json:"groupSnapshotID,omitempty"`
}

// GroupSnapshot is one volume group snapshot: member snapshots of several
// volumes cut together. SourceVolumeIDs and SnapshotIDs are parallel, in the
// order of the CreateVolumeGroupSnapshot request.
type GroupSnapshot struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	SourceVolumeIDs []string  `json:"sourceVolumeIDs"`
	SnapshotIDs     []string  `json:"snapshotIDs"`
	CreationTime    time.Time `json:"creationTime"`
}

// stateFile is the on-disk layout of state.json. Lists sorted by id keep the
// file stable and easy to diff. A state.json written before group snapshots
// existed has no groupSnapshots key and loads as having none.
type stateFile struct {
	Volumes        []Volume        `json:"volumes"`
	Snapshots      []Snapshot      `json:"snapshots"`
	GroupSnapshots []GroupSnapshot `json:"groupSnapshots"`
}

// State is the in-memory record. It is not safe for concurrent use; the
// driver serialises all access with its own mutex.
type State struct {
	path      string
	volumes   map[string]Volume
	snapshots map[string]Snapshot
	groups    map[string]GroupSnapshot
}

// LoadState reads path, or starts empty when the file does not exist yet.
func LoadState(path string) (*State, error) {
	s := &State{
		path:      path,
		volumes:   map[string]Volume{},
		snapshots: map[string]Snapshot{},
		groups:    map[string]GroupSnapshot{},
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	for _, v := range f.Volumes {
		s.volumes[v.ID] = v
	}
	for _, snap := range f.Snapshots {
		s.snapshots[snap.ID] = snap
	}
	for _, g := range f.GroupSnapshots {
		s.groups[g.ID] = g
	}
	return s, nil
}

// save writes the whole state atomically: temp file, fsync, rename.
func (s *State) save() error {
	f := stateFile{Volumes: s.Volumes(), Snapshots: s.Snapshots(), GroupSnapshots: s.GroupSnapshots()}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".state-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// Volume returns the volume with this id.
func (s *State) Volume(id string) (Volume, bool) {
	v, ok := s.volumes[id]
	return v, ok
}

// VolumeByName returns the volume created under this request name.
func (s *State) VolumeByName(name string) (Volume, bool) {
	for _, v := range s.volumes {
		if v.Name == name {
			return v, true
		}
	}
	return Volume{}, false
}

// Volumes returns all volumes sorted by id.
func (s *State) Volumes() []Volume {
	out := make([]Volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutVolume adds or replaces a volume and saves the state. On a failed save
// the in-memory record is rolled back so memory and disk agree.
func (s *State) PutVolume(v Volume) error {
	old, existed := s.volumes[v.ID]
	s.volumes[v.ID] = v
	if err := s.save(); err != nil {
		if existed {
			s.volumes[v.ID] = old
		} else {
			delete(s.volumes, v.ID)
		}
		return err
	}
	return nil
}

// DeleteVolume forgets a volume and saves the state.
func (s *State) DeleteVolume(id string) error {
	old, existed := s.volumes[id]
	if !existed {
		return nil
	}
	delete(s.volumes, id)
	if err := s.save(); err != nil {
		s.volumes[id] = old
		return err
	}
	return nil
}

// Snapshot returns the snapshot with this id.
func (s *State) Snapshot(id string) (Snapshot, bool) {
	snap, ok := s.snapshots[id]
	return snap, ok
}

// SnapshotByName returns the snapshot CreateSnapshot made under this request
// name. Members of group snapshots are not in that namespace: their names are
// derived from the group's, and answering a CreateSnapshot retry with a member
// would hand the caller a snapshot that DeleteSnapshot then refuses.
func (s *State) SnapshotByName(name string) (Snapshot, bool) {
	for _, snap := range s.snapshots {
		if snap.Name == name && snap.GroupSnapshotID == "" {
			return snap, true
		}
	}
	return Snapshot{}, false
}

// Snapshots returns all snapshots sorted by id.
func (s *State) Snapshots() []Snapshot {
	out := make([]Snapshot, 0, len(s.snapshots))
	for _, snap := range s.snapshots {
		out = append(out, snap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutSnapshot adds or replaces a snapshot and saves the state.
func (s *State) PutSnapshot(snap Snapshot) error {
	old, existed := s.snapshots[snap.ID]
	s.snapshots[snap.ID] = snap
	if err := s.save(); err != nil {
		if existed {
			s.snapshots[snap.ID] = old
		} else {
			delete(s.snapshots, snap.ID)
		}
		return err
	}
	return nil
}

// DeleteSnapshot forgets a snapshot and saves the state.
func (s *State) DeleteSnapshot(id string) error {
	old, existed := s.snapshots[id]
	if !existed {
		return nil
	}
	delete(s.snapshots, id)
	if err := s.save(); err != nil {
		s.snapshots[id] = old
		return err
	}
	return nil
}

// GroupSnapshot returns the group snapshot with this id.
func (s *State) GroupSnapshot(id string) (GroupSnapshot, bool) {
	g, ok := s.groups[id]
	return g, ok
}

// GroupSnapshotByName returns the group snapshot created under this request
// name.
func (s *State) GroupSnapshotByName(name string) (GroupSnapshot, bool) {
	for _, g := range s.groups {
		if g.Name == name {
			return g, true
		}
	}
	return GroupSnapshot{}, false
}

// GroupSnapshots returns all group snapshots sorted by id.
func (s *State) GroupSnapshots() []GroupSnapshot {
	out := make([]GroupSnapshot, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutGroupSnapshot records a new group snapshot together with its member
// snapshots in one save, so that state.json never holds a group without its
// members or members without their group, even if the plugin dies midway.
func (s *State) PutGroupSnapshot(g GroupSnapshot, members []Snapshot) error {
	if _, exists := s.groups[g.ID]; exists {
		return fmt.Errorf("group snapshot %s already recorded", g.ID)
	}
	for _, m := range members {
		if _, exists := s.snapshots[m.ID]; exists {
			return fmt.Errorf("snapshot %s already recorded", m.ID)
		}
	}
	s.groups[g.ID] = g
	for _, m := range members {
		s.snapshots[m.ID] = m
	}
	if err := s.save(); err != nil {
		delete(s.groups, g.ID)
		for _, m := range members {
			delete(s.snapshots, m.ID)
		}
		return err
	}
	return nil
}

// DeleteGroupSnapshot forgets a group snapshot and its member snapshots in
// one save.
func (s *State) DeleteGroupSnapshot(id string) error {
	g, existed := s.groups[id]
	if !existed {
		return nil
	}
	removed := map[string]Snapshot{}
	for _, sid := range g.SnapshotIDs {
		if snap, ok := s.snapshots[sid]; ok {
			removed[sid] = snap
			delete(s.snapshots, sid)
		}
	}
	delete(s.groups, id)
	if err := s.save(); err != nil {
		s.groups[id] = g
		for sid, snap := range removed {
			s.snapshots[sid] = snap
		}
		return err
	}
	return nil
}
