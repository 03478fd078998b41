// volumes.go does the data work behind the controller calls: creating volume
// directories and sparse image files, cloning them, the file helpers that
// snapshots are cut with (cut.go) and restoring snapshots. It exists to keep
// file handling out of the gRPC handlers, which only decide what to do and
// map errors to codes.
//
// Layout under the state directory:
//
//	volumes/<id>/      a mount volume
//	volumes/<id>.img   a block volume (sparse file of the volume's capacity)
//	snapshots/<id>.tgz a snapshot of a mount volume (gzip tar)
//	snapshots/<id>.img a snapshot of a block volume (sparse copy)
//
// Group snapshot members are ordinary snapshots in this layout. While a cut
// is in progress, snapshots/<id>.{tgz,img}.cut and .partial files exist;
// only complete snapshots have their final names.

package main

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// volumePath is where a volume's data lives.
func (d *driver) volumePath(v Volume) string {
	if v.AccessType == BlockAccess {
		return filepath.Join(d.stateDir, "volumes", v.ID+".img")
	}
	return filepath.Join(d.stateDir, "volumes", v.ID)
}

// snapshotPath is where a snapshot's data lives.
func (d *driver) snapshotPath(s Snapshot) string {
	if s.AccessType == BlockAccess {
		return filepath.Join(d.stateDir, "snapshots", s.ID+".img")
	}
	return filepath.Join(d.stateDir, "snapshots", s.ID+".tgz")
}

// createEmptyVolume makes an empty directory, or a sparse file of the given
// size, at path.
func createEmptyVolume(path string, access AccessType, capacity int64) error {
	if access == MountAccess {
		return os.Mkdir(path, 0o777) // the umask applies, as upstream
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(capacity); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cloneVolume fills a new volume at dst from the volume at src.
func cloneVolume(src, dst string, access AccessType, capacity int64) error {
	if access == MountAccess {
		if err := os.Mkdir(dst, 0o777); err != nil {
			return err
		}
		// cp -a keeps modes, owners, times, links and sparseness.
		return runCmd("cp", "-a", src+"/.", dst+"/")
	}
	if err := copySparse(src, dst); err != nil {
		return err
	}
	return growFile(dst, capacity)
}

// restoreSnapshot fills a new volume at dst from the snapshot file at src.
func restoreSnapshot(src, dst string, access AccessType, capacity int64) error {
	if access == MountAccess {
		if err := os.Mkdir(dst, 0o777); err != nil {
			return err
		}
		return runCmd("tar", "--extract", "--gzip", "--numeric-owner", "--file", src, "-C", dst)
	}
	if err := copySparse(src, dst); err != nil {
		return err
	}
	return growFile(dst, capacity)
}

// removeVolumeData deletes a volume's directory or image file; a missing
// path is not an error.
func removeVolumeData(path string, access AccessType) error {
	var err error
	if access == MountAccess {
		err = os.RemoveAll(path)
	} else {
		err = os.Remove(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// growFile extends a file to size; it never shrinks one.
func growFile(path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	return os.Truncate(path, size)
}

// copySparse copies the regular file src to the new file dst, copying only
// the data extents so that holes stay holes and a mostly empty 10 GiB image
// costs almost nothing. The copy is synced to disk before it returns.
func copySparse(src, dst string) error {
	return copyExtents(src, dst, true)
}

// copyExtents is copySparse with the final fsync optional: a snapshot cut
// defers it until every member of the cut is copied, so that writing the
// copies to disk does not widen the window between the members' copies.
func copyExtents(src, dst string, sync bool) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()

	size := fi.Size()
	buf := make([]byte, 1<<20)
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			start = off // no extent support: treat the rest as data
		} else if err != nil {
			return fmt.Errorf("seek data in %s: %w", src, err)
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			end = size
		}
		section := io.NewSectionReader(in, start, end-start)
		if _, err := io.CopyBuffer(io.NewOffsetWriter(out, start), section, buf); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		off = end
	}
	// The size covers a trailing hole; Sync makes the copy durable before the
	// state records it.
	if err := out.Truncate(size); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return out.Sync()
}

// syncFile makes a file written earlier (copyExtents without sync) durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gzipFile compresses src into the new file dst and syncs dst. The result is
// what "tar --gzip" would have written for a tar file src, so snapshots of
// mount volumes keep one format however they were cut.
func gzipFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", src, err)
	}
	return out.Sync()
}

// runCmd executes a command and folds its output into the error.
func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cmdOutput executes a command and returns its trimmed standard output.
func cmdOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
