"""Compile lifbridge's NMODL point processes with NEURON's ``nrnivmodl``, with a build cache.

``load(models)`` makes the point process of every model available in this process's
NEURON (``h.<mechanism>``) and returns model name -> mechanism name::

    <cache>/neuron/<hash>/<mechanism>.mod        the generated files
    <cache>/neuron/<hash>/x86_64/libnrnmech.so   what nrnivmodl built
    <cache>/neuron/<hash>/build.log

``<hash>`` covers the .mod texts, NEURON's version and :data:`BUILD_FORMAT_VERSION`. A
mechanism is named after its model and the hash of its text (``lb_lif_1a2b3c4d5e``), so
two versions of one model (other defaults) load side by side, and a model whose
mechanism is already loaded (from any library) is not built again. Builds of one hash are
serialised with :func:`lifbridge.cache.file_lock`, done in a private directory and
published with a rename; damaged entries (checked against the manifest of
:mod:`lifbridge.cache`) are rebuilt, with :func:`lifbridge.cache.rebuild_note` saying why.

``nrnivmodl`` is the NEURON wheel's, next to the Python executable (it needs that
directory on ``PATH``, a C++ compiler (g++ >= 10) and ``make``). A compile error is one
line naming the model and the first message of the translator or compiler.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from .cache import _write_manifest, cache_root, entry_problem, file_lock, rebuild_note
from .errors import BackendUnavailable
from .model import Model
from .nmodl import NmodlError, mechanism_name, to_nmodl

#: Bump when the layout of an entry or the way libraries are built changes; part of the hash.
BUILD_FORMAT_VERSION = 1
MIN_GXX = 10
_BUILD_LOG = "build.log"
_loaded_paths: list = []


class NmodlBuildError(BackendUnavailable):
    """A mechanism cannot be built or loaded; the message (one line) says what to do."""


def venv_bin() -> Path:
    """The directory of the running Python, where the NEURON wheel puts ``nrnivmodl``."""
    return Path(sys.executable).parent


def path_with_venv_bin(environ=None) -> str:
    """``PATH`` with the venv's ``bin`` first (nrnivmodl runs ``nocmodl`` and friends from there)."""
    path = (environ or os.environ).get("PATH", "")
    first = str(venv_bin())
    return path if path.split(os.pathsep)[:1] == [first] else os.pathsep.join([first, path] if path else [first])


def check_build_prerequisites() -> None:
    """NmodlBuildError (one line) unless nrnivmodl, make and g++ >= 10 are there."""
    nrnivmodl = venv_bin() / "nrnivmodl"
    if not nrnivmodl.exists():
        found = shutil.which("nrnivmodl")
        if not found:
            raise NmodlBuildError(f"NEURON's nrnivmodl is not next to {sys.executable} nor on PATH; install NEURON "
                                  "into this environment: pip install neuron")
    if shutil.which("make") is None:
        raise NmodlBuildError("nrnivmodl needs make, which is not installed; install it (apt-get install make)")
    gxx = shutil.which("g++")
    if gxx is None:
        raise NmodlBuildError(f"nrnivmodl needs a C++ compiler (g++ >= {MIN_GXX}); install it (apt-get install g++)")
    version = _gxx_major(gxx)
    if version is not None and version < MIN_GXX:
        raise NmodlBuildError(f"nrnivmodl of NEURON 9 needs g++ >= {MIN_GXX}, found g++ {version}; install a newer g++")


def _gxx_major(gxx):
    try:
        out = subprocess.run([gxx, "-dumpversion"], capture_output=True, text=True, timeout=30).stdout.strip()
        return int(out.split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _nrnivmodl() -> str:
    local = venv_bin() / "nrnivmodl"
    return str(local) if local.exists() else (shutil.which("nrnivmodl") or "nrnivmodl")


def neuron_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuron")
    except PackageNotFoundError:
        return "unknown"


def sources(models) -> dict:
    """Mechanism name -> NMODL text for ``models`` (mechanism names carry their text's hash)."""
    out = {}
    for model in models:
        plain = to_nmodl(model)
        digest = hashlib.sha256(plain.encode()).hexdigest()[:10]
        name = f"{mechanism_name(model)}_{digest}"
        out[name] = (model, to_nmodl(model, name))
    return out


def _key(texts: dict) -> str:
    h = hashlib.sha256(f"lifbridge-nmodl-{BUILD_FORMAT_VERSION}-neuron-{neuron_version()}".encode())
    for name in sorted(texts):
        h.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return h.hexdigest()[:20]


def _first_error(log: str, texts: dict) -> tuple:
    """(model name, first message) of a failed build log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"error|Error|Line too long|illegal", line) and "make:" not in line and "Traceback" not in line:
            for name, (model, _) in texts.items():
                if name in line:
                    return model.name, line
            return "", line
    return "", (lines[-1] if lines else "no output")


def build(models, *, verbose=False) -> Path:
    """Compile the point processes of ``models`` into one cached library; returns its directory."""
    table = sources(models)
    texts = {name: text for name, (_, text) in table.items()}
    key = _key(texts)
    base = cache_root() / "neuron"
    entry = base / key
    lock = base / ".locks" / f"{key}.lock"
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(lock, shared=True):
        problem = entry_problem(entry)
    if problem is None:
        return entry
    what = "NEURON mechanisms of " + ", ".join(m.name for m, _ in table.values())
    with file_lock(lock):
        problem = entry_problem(entry)
        if problem is None:
            return entry
        if problem == "missing":
            rebuild_note(what, "no cached build for this content")
        else:
            rebuild_note(what, f"cached build {problem}", rebuilding=True)
        check_build_prerequisites()
        work = Path(tempfile.mkdtemp(prefix=f".work-{os.getpid()}-", dir=base))
        try:
            for name, text in texts.items():
                (work / f"{name}.mod").write_text(text)
            env = dict(os.environ, PATH=path_with_venv_bin(), MAKEFLAGS=os.environ.get("MAKEFLAGS", "-j2"))
            run = subprocess.run([_nrnivmodl()], cwd=work, env=env, capture_output=True, text=True)
            log = run.stdout + "\n" + run.stderr
            (work / _BUILD_LOG).write_text(log)
            library = _library(work)
            if run.returncode != 0 or library is None:
                model, message = _first_error(log, table)
                who = f"model {model!r}" if model else "the models " + ", ".join(m.name for m, _ in table.values())
                raise NmodlBuildError(f"nrnivmodl failed for {who}: {' '.join(message.split())[:240]} "
                                      f"(generated .mod files and build.log kept in {work}); report it as a "
                                      f"lifbridge bug") from None
            for stale in work.glob(f"{library.parent.name}/*.o"):
                stale.unlink()
            _write_manifest(work)
            trash = base / f".trash-{uuid.uuid4().hex}"
            if entry.exists():
                os.rename(entry, trash)
            os.rename(work, entry)
            shutil.rmtree(trash, ignore_errors=True)
        except NmodlBuildError:
            raise
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return entry


def _library(directory: Path):
    found = sorted(directory.glob("*/libnrnmech.so")) + sorted(directory.glob("*/.libs/libnrnmech.so"))
    return found[0] if found else None


def load(models) -> dict:
    """Model name -> mechanism name, every mechanism loaded into NEURON (built and cached as needed)."""
    from neuron import h

    table = sources(models)
    missing = [model for name, (model, _) in table.items() if not hasattr(h, name)]
    if missing:
        entry = build(missing)
        library = _library(entry)
        if library is None:
            raise NmodlBuildError(f"the cached NEURON build {entry} has no libnrnmech.so; delete it and run again")
        if str(library) not in _loaded_paths:
            if not h.nrn_load_dll(str(library)):
                raise NmodlBuildError(f"NEURON could not load {library}; delete {entry} and run again")
            _loaded_paths.append(str(library))
    out = {}
    for name, (model, _) in table.items():
        if not hasattr(h, name):
            raise NmodlBuildError(f"mechanism {name} of {model.name} is not in NEURON after loading; delete "
                                  f"{cache_root() / 'neuron'} and run again")
        out[model.name] = name
    return out


__all__ = ["build", "load", "sources", "check_build_prerequisites", "NmodlBuildError", "NmodlError",
           "path_with_venv_bin", "venv_bin", "BUILD_FORMAT_VERSION"]
