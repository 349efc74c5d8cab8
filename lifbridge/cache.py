"""Where lifbridge keeps what it computes once: compiled NEST modules, Brian2
standalone projects, reference-integrator results.

The root is ``$LIFBRIDGE_CACHE``, else ``$XDG_CACHE_HOME/lifbridge``, else
``~/.cache/lifbridge``. It is checked the first time it is used: a root that is a
file, or a directory that cannot be written, is a :class:`CacheError` (one line naming
the variable, the path and the fix).

Entries that are compiled in place (Brian2 standalone projects) are used through
:func:`workspace`: each use works in a private copy of the entry, so that concurrent
processes never build in, run from or read results out of the same directory, and a
successful use publishes its copy as the new entry (compiled objects are reused by the
next run). :func:`rebuild_note` is the one line on stderr that says why an entry is
(re)built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from .errors import LifbridgeError

ENV = "LIFBRIDGE_CACHE"
_checked: set = set()


class CacheError(LifbridgeError):
    """The cache directory cannot be used."""


def _configured() -> tuple[Path, str]:
    """The cache root and the words that say where it came from."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        return path, f"{ENV}={os.environ[ENV]}"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "lifbridge", f"XDG_CACHE_HOME={xdg} (cache directory {xdg}/lifbridge)"
    path = Path.home() / ".cache" / "lifbridge"
    return path, f"the cache directory {path}"


def _fix(source: str) -> str:
    if source.startswith(ENV):
        return f"set {ENV} to a writable directory (or unset it to use ~/.cache/lifbridge)"
    return f"make it a writable directory, or set {ENV} to one"


def check_root(path: Path, source: str) -> None:
    """Raise CacheError unless ``path`` is (or can be made) a writable directory."""
    if path.exists() and not path.is_dir():
        raise CacheError(f"{source}: not a directory; {_fix(source)}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(f"{source}: cannot create the directory ({error.strerror or error}); {_fix(source)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CacheError(f"{source}: cannot write there ({error.strerror or error}); {_fix(source)}") from None


def cache_root() -> Path:
    """The checked cache root (see the module docstring); CacheError if it cannot be used."""
    path, source = _configured()
    key = str(path)
    if key not in _checked:
        check_root(path, source)
        _checked.add(key)
    return path


def rebuild_note(what: str, reason: str, *, rebuilding: bool = False) -> None:
    """One line on stderr: ``lifbridge: building <what>: <reason>``."""
    verb = "rebuilding" if rebuilding else "building"
    print(f"lifbridge: {verb} {what}: {reason}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- locks
@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False):
    """``fcntl.flock`` on ``path`` (created; kept, since deleting lock files races)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------- workspaces
MANIFEST = ".lifbridge-entry.json"
_FORMAT = "workspace-v1"


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def _write_manifest(root: Path) -> None:
    files = {name: file_sha256(root / name) for name in _files(root)}
    (root / MANIFEST).write_text(json.dumps({"format": _FORMAT, "files": files}))


def entry_problem(root: Path) -> str | None:
    """Why the entry at ``root`` cannot be used (missing, damaged), or None if it is intact."""
    if not root.is_dir():
        return "missing"
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        files = manifest["files"]
        if manifest.get("format") != _FORMAT or not isinstance(files, dict):
            return "damaged (manifest of another format)"
    except (OSError, ValueError, KeyError, TypeError):
        return "damaged (no readable manifest)"
    present = set(_files(root))
    for name, digest in files.items():
        if name not in present:
            return f"damaged ({name} is missing)"
        if file_sha256(root / name) != digest:
            return f"damaged (checksum mismatch of {name})"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_stale(base: Path) -> None:
    """Private copies and discarded entries left by processes that were killed."""
    for stale in base.glob(".work-*"):
        try:
            pid = int(stale.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    for trash in base.glob(".trash-*"):
        shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def workspace(base: Path, name: str, what: str, *, private=("results", "static_arrays")):
    """A private working directory for the cached entry ``base/name``.

    The directory starts as a copy of the entry (file times kept, so ``make`` rebuilds
    only what changed), or empty when there is no intact entry (with a
    :func:`rebuild_note` saying why). When the ``with`` block ends without an error,
    the directory, without its ``private`` subdirectories, replaces the entry;
    otherwise it is discarded. Readers copy under a shared lock, publishing takes the
    exclusive lock, so no process ever sees a half-written entry, and nothing runs or
    writes inside the entry itself.
    """
    base.mkdir(parents=True, exist_ok=True)
    _remove_stale(base)
    entry = base / name
    lock = base / ".locks" / f"{name}.lock"
    work = Path(tempfile.mkdtemp(prefix=f".work-{os.getpid()}-", dir=base))
    try:
        with file_lock(lock, shared=True):
            problem = entry_problem(entry)
            if problem is None:
                shutil.copytree(entry, work, symlinks=True, dirs_exist_ok=True,
                                ignore=lambda d, names: [n for n in names if n == MANIFEST])
        if problem == "missing":
            rebuild_note(what, "no cached build for this content")
        elif problem is not None:
            rebuild_note(what, f"cached build {problem}", rebuilding=True)
        yield work
        for sub in private:
            shutil.rmtree(work / sub, ignore_errors=True)
        _write_manifest(work)
        with file_lock(lock):
            trash = base / f".trash-{uuid.uuid4().hex}"
            if entry.exists():
                os.rename(entry, trash)
            os.rename(work, entry)
            shutil.rmtree(trash, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
