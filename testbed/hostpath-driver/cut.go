// cut.go takes snapshots: one for CreateSnapshot, several at one instant for
// CreateVolumeGroupSnapshot. Both go through takeSnapshots so that a single
// snapshot and a group member are made, and stored, the same way.
//
// What "one instant" can mean here: the hostpath driver's volumes are plain
// directories and loop-device-backed image files on the host, so it has no
// way to suspend the writes pods make to them (no freeze, no device-mapper
// suspend); upstream's hostpathplugin has none either. What it does:
//
//   - the caller holds the driver's mutex for the whole cut, so no other CSI
//     call (delete, expand, publish, another snapshot) touches a member
//     between the first member's copy and the last;
//   - block members' loop devices are flushed first, so the images hold every
//     write that completed before the cut;
//   - the members are then copied back to back, with nothing in between that
//     does not read the sources: with more than one member, compression and
//     fsync of the copies come after the last member is copied, keeping the
//     window as short as the copies themselves.

package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"
)

// takeSnapshots writes the data of each vols[i] into the snapshot file of
// snaps[i] as one cut. The caller must hold d.mu. It returns the time of the
// cut (after the flush, before the first copy), which callers record as the
// creation time of every snapshot of the cut. On error it leaves no file
// behind.
func (d *driver) takeSnapshots(vols []Volume, snaps []Snapshot) (time.Time, error) {
	if len(vols) != len(snaps) {
		return time.Time{}, fmt.Errorf("%d volumes for %d snapshots", len(vols), len(snaps))
	}
	// A cut of one has no other member to keep close, so it compresses and
	// syncs as it copies, exactly as a single snapshot always did: no
	// uncompressed tar on disk, no second pass.
	deferWork := len(vols) > 1
	final := make([]string, len(snaps))
	for i, snap := range snaps {
		final[i] = d.snapshotPath(snap)
	}
	// A member is written to <final>.partial (block, or a compressed tar) or
	// to <final>.cut (an uncompressed tar, compressed after the cut).
	cleanup := func() {
		for i, snap := range snaps {
			for _, p := range []string{final[i] + ".cut", final[i] + ".partial", final[i]} {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					// A leftover file costs disk space but no correctness:
					// the state never records a failed cut.
					log.Printf("cleanup of failed snapshot %s: %v", snap.ID, err)
				}
			}
		}
	}

	// Flush: block writes made through loop devices reach the images.
	for _, vol := range vols {
		if vol.AccessType != BlockAccess {
			continue // a directory's page cache is the one its readers see
		}
		if err := flushLoops(d.volumePath(vol)); err != nil {
			return time.Time{}, fmt.Errorf("flush volume %s: %w", vol.ID, err)
		}
	}

	// Cut: the members back to back.
	cutAt := time.Now().UTC()
	for i, vol := range vols {
		src := d.volumePath(vol)
		var err error
		switch {
		case vol.AccessType == BlockAccess:
			err = copyExtents(src, final[i]+".partial", !deferWork)
		case deferWork:
			err = runCmd("tar", "--create", "--numeric-owner", "--file", final[i]+".cut", "-C", src, ".")
		default:
			err = runCmd("tar", "--create", "--gzip", "--numeric-owner", "--file", final[i]+".partial", "-C", src, ".")
		}
		if err != nil {
			cleanup()
			return time.Time{}, fmt.Errorf("cut volume %s: %w", vol.ID, err)
		}
		if d.afterCut != nil {
			d.afterCut(i)
		}
	}

	// Finish: compress or sync what the cut deferred, then give each file its
	// final name, which only complete snapshot files ever have.
	for i, snap := range snaps {
		partial := final[i] + ".partial"
		var err error
		switch {
		case !deferWork:
		case snap.AccessType == BlockAccess:
			err = syncFile(partial)
		default:
			err = gzipFile(final[i]+".cut", partial)
			if err == nil {
				err = os.Remove(final[i] + ".cut")
			}
		}
		if err == nil {
			err = os.Rename(partial, final[i])
		}
		if err != nil {
			cleanup()
			return time.Time{}, fmt.Errorf("finish snapshot %s: %w", snap.ID, err)
		}
	}
	return cutAt, nil
}
