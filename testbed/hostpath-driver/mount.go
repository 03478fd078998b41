// mount.go wraps the kernel-facing node operations: detecting, making and
// removing bind mounts, and attaching block volume images to loop devices.
// It exists so node.go reads as CSI semantics rather than syscalls.

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// isMountPoint reports whether path is a mount point, from
// /proc/self/mountinfo. Comparing device numbers is not enough: a bind mount
// from the same file system keeps the device number. A missing path returns
// an error satisfying errors.Is(err, os.ErrNotExist).
func isMountPoint(path string) (bool, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// Field 5 is the mount point, with spaces and the like octal-escaped.
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && unescapeMountinfo(fields[4]) == resolved {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountinfo decodes the \ooo escapes the kernel writes in mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bindMount bind-mounts source onto target, read-only if asked. A read-only
// bind needs a second remount call; the kernel ignores MS_RDONLY on the
// first.
func bindMount(source, target string, readOnly bool) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, err)
	}
	if !readOnly {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(target, 0)
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// unmount unmounts target.
func unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// loopDevices lists the loop devices backed by file.
func loopDevices(file string) ([]string, error) {
	out, err := cmdOutput("losetup", "--list", "--noheadings", "--output", "NAME", "--associated", file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// attachLoop returns a loop device backed by file, reusing an existing one.
func attachLoop(file string) (string, error) {
	devs, err := loopDevices(file)
	if err != nil {
		return "", err
	}
	if len(devs) > 0 {
		return devs[0], nil
	}
	return cmdOutput("losetup", "--find", "--show", file)
}

// detachLoops detaches every loop device backed by file. A device still
// open (mounted into a pod) is detached by the kernel when it is released.
func detachLoops(file string) error {
	devs, err := loopDevices(file)
	if err != nil {
		return err
	}
	var errs []error
	for _, dev := range devs {
		errs = append(errs, runCmd("losetup", "--detach", dev))
	}
	return errors.Join(errs...)
}

// refreshLoops makes every loop device backed by file pick up the file's
// current size after it has grown.
func refreshLoops(file string) error {
	devs, err := loopDevices(file)
	if err != nil {
		return err
	}
	var errs []error
	for _, dev := range devs {
		errs = append(errs, runCmd("losetup", "--set-capacity", dev))
	}
	return errors.Join(errs...)
}

// flushLoops writes back what the loop devices backed by file hold in their
// page caches. A pod writing to a raw block volume writes through the loop
// device, and buffered writes sit in the device's own page cache until
// writeback, invisible to a reader of the image file. fsync on the device
// pushes them through the loop driver into the image (and flushes that), so
// a snapshot that copies the image afterwards sees every write that was
// complete before the flush.
func flushLoops(file string) error {
	devs, err := loopDevices(file)
	if err != nil {
		return err
	}
	var errs []error
	for _, dev := range devs {
		f, err := os.Open(dev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("flush %s: %w", dev, err))
		}
		f.Close()
	}
	return errors.Join(errs...)
}
