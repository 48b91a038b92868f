"""Which filesystem a path lives on, and whether file events can be trusted there.

inotify only sees changes made through the local kernel: on NFS, CIFS/SMB, sshfs and
other FUSE mounts, 9p, Lustre or GPFS a writer on another machine changes the file and
no event ever arrives (watchdog #504, #409). A virtual machine's shared folders
(virtiofs, VirtualBox's vboxsf, VMware's vmhgfs, Parallels' prl_fs) are the same case: a
writer on the host changes the file behind the guest kernel's back. ``tail -F`` checks
the filesystem type and polls on those; so does gradtop. Linux reports mounts in
``/proc/mounts``; elsewhere nothing is detected and ``--poll`` remains the user's switch.
"""

from __future__ import annotations

import os
import re

MOUNTS = "/proc/mounts"

# Filesystems where a remote writer's changes produce no local events.
REMOTE_PREFIXES = ("nfs", "smb", "fuse.", "cifs")
REMOTE_TYPES = frozenset(
    {"9p", "lustre", "gpfs", "ceph", "afs", "beegfs", "fuse", "ncpfs"}
    # Host folders shared into a virtual machine: the host's writes raise no guest events.
    | {"virtiofs", "vboxsf", "vmhgfs", "prl_fs"}
)

_OCTAL = re.compile(r"\\([0-7]{3})")


def is_remote(fstype: str) -> bool:
    """True for nfs/nfs4, cifs, smb*/smbfs, fuse.* (sshfs, gcsfuse...), 9p, lustre, gpfs,
    and VM shared folders (virtiofs, vboxsf...)."""
    return fstype in REMOTE_TYPES or fstype.startswith(REMOTE_PREFIXES)


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """``(mount point, fstype)`` pairs from /proc/mounts text, in mount order.

    The kernel escapes space, tab, newline and backslash in paths as octal (``\\040``).
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
            mounts.append((point, fields[2]))
    return mounts


def filesystem_type(path: str, mounts: list[tuple[str, str]] | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (which must exist), or None if unknown."""
    if mounts is None:
        try:
            with open(MOUNTS, encoding="utf-8", errors="replace") as f:
                mounts = parse_mounts(f.read())
        except OSError:
            return None
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for point, fstype in mounts:  # the last, longest match wins (later mounts shadow)
        if _contains(point, real) and (best is None or len(point) >= best[0]):
            best = (len(point), fstype)
    return None if best is None else best[1]


def _contains(point: str, path: str) -> bool:
    if point == "/":
        return path.startswith("/")
    return path == point or path.startswith(point.rstrip("/") + "/")


def nearest_existing_dir(path: str) -> str:
    """The file's directory, or its nearest ancestor that exists when that is missing too."""
    current = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current
