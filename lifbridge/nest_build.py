"""Compile NESTML neuron sources into a NEST extension module, with a build cache.

This is the build/install layer of the NEST backend; it knows nothing about lifbridge
model specs. Its input is plain NESTML text, one source per neuron::

    built = build_nest_module({"lif_neuron": nestml_text})
    path = install_nest_module(built)   # nest.Install, idempotent, again after ResetKernel
    nest.Create("lif_neuron")
    nest.ResetKernel()                  # unloads every module
    nest.Install(path)                  # the returned path loads it again (or install again)

``build_nest_module`` generates C++ with NESTML, compiles it with cmake + g++ against the
headers shipped in the ``nest-simulator`` pip wheel, test-loads the result in a separate
Python process and stores it in a content-addressed cache::

    <cache>/nest/<hash>/<module_name>.so
    <cache>/nest/<hash>/manifest.json      hash, neuron names, versions, sha256 of the .so
    <cache>/nest/<hash>/build.log

``<cache>`` is ``cache_dir`` if given, else ``$LIFBRIDGE_CACHE``, else
``$XDG_CACHE_HOME/lifbridge``, else ``~/.cache/lifbridge``. A cached module is found
again without importing NESTML or NEST (manifest + sha256 of the .so only).

Builds of the same hash are serialised with ``fcntl.flock`` on ``<cache>/nest/.locks/<hash>.lock``;
each build works in a private temporary directory beside the cache entries and publishes
with an atomic ``rename``. Damaged entries (missing .so, checksum mismatch, unreadable
manifest) are detected and rebuilt.

What the NEST 3.10 pip wheel needs (handled here, see ``_toolchain``):

* its own ``nest-config`` and ``build_info["prefix"]`` name the temporary directory of the
  machine that built the wheel, so a ``nest-config`` with the real paths is generated for
  every build;
* it is compiled with the old libstdc++ string ABI, so modules get
  ``-D_GLIBCXX_USE_CXX11_ABI=0`` (detected from the kernel's symbols);
* ``module_manager.h`` includes ``<ltdl.h>`` only for the ``lt_dlhandle`` pointer type; the
  wheel ships no ``ltdl.h``, so a one-line stand-in is generated instead of requiring
  ``libltdl-dev``;
* the kernel lives in ``nest/nestkernel_api.so``; the module links it (and the wheel's own
  ``libgomp``/``libgsl``) by absolute path, so it loads whatever the dlopen flags of the
  process were when ``nest`` was imported;
* ``nest.Install`` is given the absolute path of the .so, so no ``LD_LIBRARY_PATH`` set-up
  is needed, in this or any later process; ``install_nest_module`` returns that path, which
  ``nest.Install`` takes again after a ``nest.ResetKernel()`` (a bare module name is
  looked up only in NEST's library directory and ``LD_LIBRARY_PATH``).

Only the Python standard library is imported at module level; ``nest`` and ``pynestml``
are imported (or run in a child process) only when needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from .cache import cache_root, file_sha256, rebuild_note
from .errors import BackendUnavailable

__all__ = ["NestBuildError", "BuiltModule", "build_nest_module", "find_cached_module",
           "install_nest_module", "check_build_prerequisites", "default_cache_dir", "COMPILE_JOBS"]

#: Bump when the layout of a cache entry or the way modules are built changes; part of the hash.
BUILD_FORMAT_VERSION = 1

#: Parallel compiler processes (``make -j``).
COMPILE_JOBS = 2

#: Flags every module is compiled with, besides the C++ ABI define chosen to match the kernel.
#: NEST itself uses C++20 and OpenMP (``nest-config --cflags`` of the wheel: ``-fopenmp -O2 ...
#: -O3 -DNDEBUG -std=c++20``). ``-fopenmp`` is required: NEST's inline ``get_thread_id()``
#: calls ``omp_get_thread_num()`` only when ``_OPENMP`` is defined.
BASE_CXXFLAGS = ("-std=c++20", "-O2", "-DNDEBUG", "-fopenmp")

PIP_HINT = "pip install 'lifbridge[nest]'"

_MANIFEST = "manifest.json"
_BUILD_LOG = "build.log"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOG_TAIL_LINES = 40


class NestBuildError(BackendUnavailable, RuntimeError):
    """A NEST extension module cannot be built or loaded; the message says what to do."""


@dataclass(frozen=True)
class BuiltModule:
    """A compiled NEST extension module in the cache."""

    module_name: str
    path: Path                     #: absolute path of ``<module_name>.so``
    neuron_names: tuple            #: NEST model names the module registers, sorted
    hash: str                      #: cache key (hex sha256)
    directory: Path                #: the cache entry directory
    from_cache: bool = False       #: True if no build was needed for this call
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def build_log(self) -> Path:
        return self.directory / _BUILD_LOG


# --------------------------------------------------------------------------------------------
# prerequisites


def _default_include_dirs() -> list:
    dirs = []
    for var in ("CPLUS_INCLUDE_PATH", "CPATH"):
        dirs += [d for d in os.environ.get(var, "").split(os.pathsep) if d]
    return dirs + ["/usr/local/include", "/usr/include"]


def check_build_prerequisites(*, path: Optional[str] = None, which: Callable = shutil.which,
                              include_dirs: Optional[Sequence[str]] = None,
                              find_spec: Callable = importlib.util.find_spec) -> None:
    """Raise :class:`NestBuildError` naming what to install if a module cannot be built here.

    Checks the Python packages (``nest``, ``pynestml``), the tools ``g++``, ``cmake`` and
    ``make`` (looked up with ``which(name, path=path)``; ``path=None`` means ``$PATH``) and
    the Boost and GSL headers NEST's headers include (looked up in ``include_dirs``,
    default ``$CPLUS_INCLUDE_PATH``, ``$CPATH``, ``/usr/local/include``, ``/usr/include``).
    All problems are reported together in one message.
    """
    problems = []
    packages = []
    missing_py = [dist for module, dist in (("nest", "nest-simulator"), ("pynestml", "nestml"))
                  if find_spec(module) is None]
    if missing_py:
        problems.append(f"the Python package(s) {' and '.join(missing_py)} not installed: {PIP_HINT}")
    for tool, package, what in (("g++", "g++", "C++ compiler g++"), ("cmake", "cmake", "cmake"),
                                ("make", "make", "make")):
        if which(tool, path=path) is None:
            where = "PATH" if path is None else repr(path)
            problems.append(f"{what} not found on {where}: apt-get install {package}")
            packages.append(package)
    dirs = list(_default_include_dirs() if include_dirs is None else include_dirs)
    for header, package, what in (("boost/version.hpp", "libboost-dev", "Boost headers"),
                                  ("gsl/gsl_errno.h", "libgsl-dev", "GSL headers")):
        if not any(os.path.isfile(os.path.join(d, header)) for d in dirs):
            problems.append(f"{what} ({header}) not found in {', '.join(dirs) or '(no directories)'}: "
                            f"apt-get install {package}")
            packages.append(package)
    if problems:
        msg = "cannot build NEST extension modules:\n  - " + "\n  - ".join(problems)
        if packages:
            msg += "\nOn Debian/Ubuntu: apt-get install " + " ".join(packages)
        raise NestBuildError(msg)


# --------------------------------------------------------------------------------------------
# toolchain: where the wheel's pieces are and how modules are compiled against them


@dataclass(frozen=True)
class _Toolchain:
    nest_dir: str
    kernel_lib: str
    include_dir: str
    nest_version: str
    nestml_version: str
    cxxflags: tuple
    libs: tuple


def _dist_version(dist: str) -> Optional[str]:
    import importlib.metadata as md
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _kernel_uses_old_abi(kernel_lib: str) -> bool:
    """True if the NEST kernel was compiled with ``_GLIBCXX_USE_CXX11_ABI=0``."""
    import mmap
    with open(kernel_lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        # nest::ModuleManager::install(std::string const&) in either ABI
        if m.find(b"_ZN4nest13ModuleManager7installERKNSt7__cxx1112basic_string") >= 0:
            return False
        if m.find(b"_ZN4nest13ModuleManager7installERKSs") >= 0:
            return True
        # fall back: any nest:: symbol mentioning the new-ABI string type
        return m.find(b"NSt7__cxx1112basic_string") < 0


@lru_cache(maxsize=None)
def _toolchain() -> _Toolchain:
    spec = importlib.util.find_spec("nest")
    if spec is None or not spec.submodule_search_locations:
        raise NestBuildError(f"NEST is not installed (Python package nest-simulator): {PIP_HINT}")
    nest_dir = os.path.realpath(list(spec.submodule_search_locations)[0])
    nest_version = _dist_version("nest-simulator")
    nestml_version = _dist_version("nestml")
    if nest_version is None or nestml_version is None:
        raise NestBuildError("building NEST modules needs the pip packages nest-simulator and nestml: "
                             + PIP_HINT)
    kernels = sorted(Path(nest_dir).glob("nestkernel_api*.so"))
    include_dir = os.path.join(nest_dir, "include", "nest")
    if not kernels or not os.path.isfile(os.path.join(include_dir, "nest_extension_interface.h")):
        raise NestBuildError(f"the NEST installation in {nest_dir} has no kernel library "
                             "(nestkernel_api*.so) or no C++ headers (include/nest); building modules "
                             "is supported for the nest-simulator pip wheel: " + PIP_HINT)
    kernel_lib = str(kernels[0])
    abi = "0" if _kernel_uses_old_abi(kernel_lib) else "1"
    cxxflags = BASE_CXXFLAGS + (f"-D_GLIBCXX_USE_CXX11_ABI={abi}",)

    # Link the kernel and the wheel's own runtime libraries by absolute path so that the
    # module resolves NEST's symbols itself and shares NEST's OpenMP runtime and GSL.
    # (Debian's gcc links with --as-needed and cmake puts these flags before the objects,
    # hence --no-as-needed.)
    libs_dir = os.path.join(os.path.dirname(nest_dir), "nest_simulator.libs")
    rpath = [nest_dir] + ([libs_dir] if os.path.isdir(libs_dir) else [])
    libs = ["-Wl,--no-as-needed", kernel_lib, "-Wl,-rpath," + ":".join(rpath)]

    def bundled(pattern):
        found = sorted(Path(libs_dir).glob(pattern)) if os.path.isdir(libs_dir) else []
        return str(found[0]) if found else None

    gsl, gslcblas, gomp = bundled("libgsl-*.so*"), bundled("libgslcblas-*.so*"), bundled("libgomp-*.so*")
    libs += [gsl, gslcblas] if gsl and gslcblas else ["-lgsl", "-lgslcblas"]
    libs += [gomp] if gomp else ["-fopenmp"]
    libs.append("-Wl,--as-needed")
    return _Toolchain(nest_dir=nest_dir, kernel_lib=kernel_lib, include_dir=include_dir,
                      nest_version=nest_version, nestml_version=nestml_version,
                      cxxflags=tuple(cxxflags), libs=tuple(libs))


_LTDL_STANDIN = """\
/* Stand-in for <ltdl.h>, generated by lifbridge.nest_build.
 * NEST's module_manager.h needs only the lt_dlhandle pointer type from it. */
#ifndef LIFBRIDGE_LTDL_STANDIN_H
#define LIFBRIDGE_LTDL_STANDIN_H
typedef struct lt__handle* lt_dlhandle;
#endif
"""


def _write_nest_config(prefix: Path, tc: _Toolchain, compiler: str) -> Path:
    """Create ``prefix/bin/nest-config`` (and ``prefix/include/ltdl.h``) for this toolchain."""
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    (prefix / "include").mkdir(parents=True, exist_ok=True)
    (prefix / "include" / "ltdl.h").write_text(_LTDL_STANDIN)
    q = shlex.quote
    answers = {
        "--prefix": str(prefix),
        "--exec-prefix": str(prefix),
        "--version": tc.nest_version,
        "--includes": f"-I{prefix / 'include'} -I{tc.include_dir}",
        "--cflags": " ".join(tc.cxxflags),
        "--libs": " ".join(tc.libs),
        "--compiler": compiler,
        "--compiler-name": "GNU",
        "--python-executable": sys.executable,
        "--static-libraries": "OFF",
        "--libdir": "lib",
        "--datadir": "share",
        "--docdir": "doc",
    }
    cases = "\n".join(f"    {opt}) echo {q(val)} ;;" for opt, val in answers.items())
    script = (
        "#!/bin/sh\n"
        "# nest-config for the nest-simulator wheel in " + tc.nest_dir + "\n"
        "# (generated by lifbridge.nest_build; the wheel's own nest-config names the build machine)\n"
        '[ $# -eq 0 ] && { echo "usage: nest-config --option" >&2; exit 1; }\n'
        'for opt in "$@"; do\n'
        '  case "$opt" in\n'
        f"{cases}\n"
        '    *) echo "nest-config: unknown option $opt" >&2; exit 1 ;;\n'
        "  esac\n"
        "done\n"
    )
    path = prefix / "bin" / "nest-config"
    path.write_text(script)
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------------------------
# cache keys and entries


def default_cache_dir() -> Path:
    """``$LIFBRIDGE_CACHE``, else ``$XDG_CACHE_HOME/lifbridge``, else ``~/.cache/lifbridge``."""
    return cache_root()


def _check_sources(nestml_sources: Mapping[str, str]) -> list:
    if not isinstance(nestml_sources, Mapping) or not nestml_sources:
        raise NestBuildError("nestml_sources must be a non-empty mapping of neuron name to NESTML source")
    items = []
    for name, source in nestml_sources.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise NestBuildError(f"invalid neuron name {name!r}: use letters, digits and underscores")
        if not isinstance(source, str):
            raise NestBuildError(f"the NESTML source of {name!r} must be a string")
        if not re.search(rf"^\s*model\s+{re.escape(name)}\s*:", source, re.MULTILINE):
            raise NestBuildError(f"the NESTML source given for {name!r} does not define 'model {name}:'")
        items.append((name, source))
    return sorted(items)


def _check_module_name(module_name: str) -> None:
    if not _NAME_RE.match(module_name) or not module_name.endswith("module"):
        raise NestBuildError(f"invalid NEST module name {module_name!r}: it must be an identifier "
                             "ending in 'module' (a NESTML requirement)")


def _cache_key(items: list, module_name: Optional[str], tc: _Toolchain, codegen_opts: Mapping) -> str:
    payload = {
        "format": BUILD_FORMAT_VERSION,
        "sources": items,
        "module_name": module_name,
        "nestml": tc.nestml_version,
        "nest": tc.nest_version,
        "nest_dir": tc.nest_dir,          # the module links the kernel by absolute path
        "compiler": "g++",
        "cxxflags": list(tc.cxxflags),
        "libs": list(tc.libs),
        "codegen_opts": codegen_opts,
        "generate_script": hashlib.sha256(_GENERATE_SCRIPT.encode()).hexdigest(),
        "odetoolbox": _dist_version("odetoolbox"),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _resolve(nestml_sources, module_name, cache_dir, codegen_opts):
    items = _check_sources(nestml_sources)
    opts = dict(codegen_opts or {})
    try:
        json.dumps(opts, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise NestBuildError(f"codegen_opts must be JSON-serialisable: {e}") from None
    tc = _toolchain()
    if module_name is None:
        key = _cache_key(items, None, tc, opts)
        module_name = f"lifbridge_{key[:12]}module"
    else:
        _check_module_name(module_name)
        key = _cache_key(items, module_name, tc, opts)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root.absolute() / "nest"
    return items, module_name, key, root, tc, opts


def _check_entry(entry: Path, key: str, module_name: str, names: list):
    """(the cache entry as a BuiltModule, "") if it is complete and intact, else (None, why not)."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
    except FileNotFoundError:
        return None, "no cached build for this content"
    except (OSError, ValueError):
        return None, "cached build damaged (no readable manifest)"
    try:
        if not isinstance(manifest, dict):
            return None, "cached build damaged (no readable manifest)"
        if (manifest.get("format") != BUILD_FORMAT_VERSION or manifest.get("hash") != key
                or manifest.get("module_name") != module_name or manifest.get("neuron_names") != names):
            return None, "cached build damaged (manifest does not match this content)"
        so = entry / manifest["so_file"]
        if so.name != f"{module_name}.so" or not so.is_file():
            return None, f"cached build damaged ({so.name} is missing)"
        if so.stat().st_size != manifest["so_size"] or file_sha256(so) != manifest["so_sha256"]:
            return None, f"cached build damaged (checksum mismatch of {so.name})"
    except (OSError, ValueError, KeyError, TypeError):
        return None, "cached build damaged (manifest does not match this content)"
    return BuiltModule(module_name=module_name, path=so, neuron_names=tuple(names), hash=key,
                       directory=entry, from_cache=True, manifest=manifest), ""


def _valid_entry(entry: Path, key: str, module_name: str, names: list) -> Optional[BuiltModule]:
    """The cache entry as a BuiltModule if it is complete and intact, else None."""
    return _check_entry(entry, key, module_name, names)[0]


def find_cached_module(nestml_sources: Mapping[str, str], module_name: Optional[str] = None, *,
                       cache_dir=None, codegen_opts: Optional[Mapping[str, Any]] = None
                       ) -> Optional[BuiltModule]:
    """The intact cached build of these sources, or None; never builds, imports no NESTML/NEST."""
    items, module_name, key, root, _, _ = _resolve(nestml_sources, module_name, cache_dir, codegen_opts)
    return _valid_entry(root / key, key, module_name, [n for n, _ in items])


class _FileLock:
    """Exclusive ``fcntl.flock`` on a lock file (kept; deleting lock files races)."""

    def __init__(self, path: Path, on_wait: Optional[Callable[[], None]] = None):
        self.path, self.on_wait, self.fd = path, on_wait, None

    def __enter__(self):
        import fcntl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.on_wait:
                self.on_wait()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------------------------
# building


# Runs in a child process: NESTML keeps global state, prints to stdout, may call sys.exit and
# edits os.environ; none of that should touch the caller. stdout/stderr go to the build log.
_GENERATE_SCRIPT = r"""
import json, sys
args = json.loads(sys.argv[1])
try:
    # NESTML detects the NEST version by importing nest in yet another process before it
    # looks at the nest_version option; the version is known, skip that.
    from pynestml.codegeneration.nest_tools import NESTTools
    NESTTools.detect_nest_version = classmethod(lambda cls: args["nest_version"])
except Exception:
    pass
try:
    # ODE-toolbox 3.0.0 writes the update of a leak-free linear equation x' = b as the text
    # "__h * " + str(b): for b = I_e/C_m + I_stim/C_m only the first term gets the time
    # step (a perfect integrator then takes 1/dt times its continuous input). Hand it b as
    # one product, 1*(...), so that the text is parenthesised.
    import sympy
    from odetoolbox.system_of_shapes import SystemOfShapes
    _propagator_solver = SystemOfShapes.generate_solver_dict_based_on_propagator_matrix_
    def _parenthesised_constant_terms(self, P):
        saved = self.b_
        b = sympy.Matrix(saved)
        for row in range(b.shape[0]):
            if isinstance(b[row], sympy.Add) and self.A_[row, row] == 0:
                b[row] = sympy.Mul(sympy.Integer(1), b[row], evaluate=False)
        self.b_ = b
        try:
            return _propagator_solver(self, P)
        finally:
            self.b_ = saved
    SystemOfShapes.generate_solver_dict_based_on_propagator_matrix_ = _parenthesised_constant_terms
except Exception:
    pass
from pynestml.frontend.pynestml_frontend import generate_target
opts = dict(args["codegen_opts"])
opts.update(nest_path=args["prefix"], nest_version=args["nest_version"],
            max_n_compiler_processes=args["jobs"])
failed = generate_target(input_path=args["src_dir"], target_platform="NEST",
                         target_path=args["target_dir"], install_path=args["install_dir"],
                         logging_level="WARNING", module_name=args["module_name"], suffix="",
                         codegen_opts=opts)
sys.stdout.flush()
if failed:
    print("NESTML reported errors (see above); no module was built.", file=sys.stderr)
    sys.exit(3)
"""

# Runs in a child process: load the fresh module into a NEST kernel and create each model.
_SMOKE_SCRIPT = r"""
import json, sys
args = json.loads(sys.argv[1])
import nest
if hasattr(nest, "VerbosityLevel"):
    nest.verbosity = nest.VerbosityLevel.ERROR
else:
    nest.set_verbosity("M_ERROR")
nest.Install(args["so"])
models = set(nest.node_models)
missing = [n for n in args["names"] if n not in models]
if missing:
    print("module loaded but does not define: " + ", ".join(missing)
          + "; it defines: " + ", ".join(sorted(models)), file=sys.stderr)
    sys.exit(4)
for n in args["names"]:
    nest.Create(n)
print("lifbridge smoke test ok")
"""

_PROGRESS_RE = re.compile(r"^\[\s*\d+%\]|error|Error")


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYNEST_QUIET"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def _run_logged(cmd: list, log: Path, cwd: Path, verbose: bool, label: str) -> int:
    """Run cmd with stdout+stderr appended to log; echo progress lines to stderr if verbose."""
    with open(log, "ab") as out:
        out.write(f"\n$ {label}\n".encode())
        out.flush()
        offset = out.tell()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(cwd), env=_child_env())
    t0 = time.monotonic()
    try:
        rc = _follow(proc, log, offset) if verbose else proc.wait()
    except BaseException:          # e.g. KeyboardInterrupt: do not leave a compiler running
        proc.kill()
        proc.wait()
        raise
    with open(log, "a") as out:
        out.write(f"[exit status {rc} after {time.monotonic() - t0:.1f} s]\n")
    return rc


def _follow(proc: subprocess.Popen, log: Path, offset: int) -> int:
    """Wait for proc, echoing the progress lines it writes to log (from offset on) to stderr."""
    with open(log, "rb") as follow:
        follow.seek(offset)
        pending = b""
        while True:
            done = proc.poll() is not None
            pending += follow.read()
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").rstrip()
                if _PROGRESS_RE.search(text):
                    print(f"lifbridge:   {text}", file=sys.stderr, flush=True)
            if done:
                return proc.returncode
            time.sleep(0.2)


def _log_tail(log: Path, n: int = _LOG_TAIL_LINES) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _fail(message: str, log: Path, root: Path, key: str) -> NestBuildError:
    """Keep the log of a failed build (the build directory is removed) and make the error."""
    kept = root / "failed" / f"{key}.log"
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)
    except OSError:
        kept = log
    return NestBuildError(f"{message}\n--- last lines of the build log ---\n{_log_tail(kept)}\n"
                          f"--- full log: {kept}")


def _build(items: list, module_name: str, key: str, root: Path, tc: _Toolchain, opts: dict,
           verbose: bool) -> BuiltModule:
    def say(msg):
        if verbose:
            print(f"lifbridge: {msg}", file=sys.stderr, flush=True)

    names = [n for n, _ in items]
    entry = root / key
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    try:
        src_dir, target_dir, install_dir, stage = (work / d for d in ("src", "target", "install", "stage"))
        for d in (src_dir, install_dir, stage):
            d.mkdir()
        for name, source in items:
            (src_dir / f"{name}.nestml").write_text(source)
        compiler = shutil.which("g++") or "g++"
        _write_nest_config(work / "nest-prefix", tc, compiler)
        log = stage / _BUILD_LOG
        log.write_text(f"lifbridge NEST module build {module_name} ({key})\n"
                       f"neurons: {', '.join(names)}\nnest-simulator {tc.nest_version}, nestml "
                       f"{tc.nestml_version}, compiler {compiler}\ncxxflags: {' '.join(tc.cxxflags)}\n"
                       f"libs: {' '.join(tc.libs)}\n")
        t0 = time.monotonic()
        say(f"building NEST module {module_name} ({', '.join(names)}) with NESTML + g++ "
            f"(-j{COMPILE_JOBS}); this takes a while")
        args = {"src_dir": str(src_dir), "target_dir": str(target_dir), "install_dir": str(install_dir),
                "prefix": str(work / "nest-prefix"), "module_name": module_name,
                "nest_version": "v" + tc.nest_version, "jobs": COMPILE_JOBS, "codegen_opts": opts}
        rc = _run_logged([sys.executable, "-c", _GENERATE_SCRIPT, json.dumps(args)], log, work,
                         verbose, "NESTML code generation and build")
        so_built = install_dir / f"{module_name}.so"
        if rc != 0 or not so_built.is_file():
            raise _fail(f"building NEST module {module_name} ({', '.join(names)}) failed "
                        f"(NESTML or compiler error, exit status {rc})", log, root, key)
        so = stage / so_built.name
        shutil.copyfile(so_built, so)

        say("test-loading the module into NEST in a separate process")
        rc = _run_logged([sys.executable, "-c", _SMOKE_SCRIPT,
                          json.dumps({"so": str(so), "names": names})], log, work, False,
                         "load test: nest.Install + nest.Create")
        if rc != 0:
            raise _fail(f"NEST module {module_name} was built but cannot be loaded into NEST "
                        f"(exit status {rc})", log, root, key)

        seconds = round(time.monotonic() - t0, 2)
        manifest = {
            "format": BUILD_FORMAT_VERSION,
            "hash": key,
            "module_name": module_name,
            "neuron_names": names,
            "so_file": so.name,
            "so_sha256": file_sha256(so),
            "so_size": so.stat().st_size,
            "nest_version": tc.nest_version,
            "nestml_version": tc.nestml_version,
            "nest_dir": tc.nest_dir,
            "cxxflags": list(tc.cxxflags),
            "libs": list(tc.libs),
            "codegen_opts": opts,
            "build_seconds": seconds,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_id": uuid.uuid4().hex,
        }
        (stage / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if entry.exists() or entry.is_symlink():       # damaged entry: move aside, then publish
            trash = root / f".trash-{key[:16]}-{uuid.uuid4().hex[:8]}"
            os.rename(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.rename(stage, entry)
        say(f"built {module_name} in {seconds:.1f} s -> {entry}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    built = _valid_entry(entry, key, module_name, names)
    if built is None:
        raise NestBuildError(f"the cache entry {entry} was damaged right after it was written")
    return dataclasses.replace(built, from_cache=False)


def build_nest_module(nestml_sources: Mapping[str, str], module_name: Optional[str] = None, *,
                      cache_dir=None, verbose: bool = False,
                      codegen_opts: Optional[Mapping[str, Any]] = None) -> BuiltModule:
    """Compile NESTML neurons into a NEST extension module, or return the cached build.

    ``nestml_sources`` maps each neuron name (the NEST model name, e.g. ``"lif_neuron"``) to
    the NESTML text defining ``model <name>:``. Names are used exactly (no suffix).
    ``module_name`` defaults to ``lifbridge_<hash[:12]>module``. ``codegen_opts`` are passed
    to NESTML's NEST code generator (e.g. ``{"numeric_solver": "forward-Euler"}``) and are
    part of the cache key. With ``verbose``, build progress goes to stderr.

    A cached, intact build is returned (``from_cache=True``) after checking its manifest and
    the sha256 of the .so, without importing NESTML or NEST. Raises :class:`NestBuildError`
    on missing prerequisites and on NESTML/compiler/load errors (with the log's tail and path).
    """
    items, module_name, key, root, tc, opts = _resolve(nestml_sources, module_name, cache_dir,
                                                        codegen_opts)
    names = [n for n, _ in items]
    found = _valid_entry(root / key, key, module_name, names)
    if found is not None:
        return found

    check_build_prerequisites()
    root.mkdir(parents=True, exist_ok=True)

    def waiting():
        if verbose:
            print(f"lifbridge: waiting for another process that is building {module_name}",
                  file=sys.stderr, flush=True)

    with _FileLock(root / ".locks" / f"{key}.lock", on_wait=waiting):
        found, problem = _check_entry(root / key, key, module_name, names)   # built while we waited?
        if found is not None:
            return found
        rebuild_note(f"NEST module {module_name}", problem, rebuilding=problem.startswith("cached build damaged"))
        for stale in root.glob(f".tmp-{key[:16]}-*"):               # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        return _build(items, module_name, key, root, tc, opts, verbose)


# --------------------------------------------------------------------------------------------
# installing


def install_nest_module(built: BuiltModule) -> str:
    """Load ``built`` into the running NEST kernel; return the absolute path of its .so.

    Does nothing if this kernel already has it (loaded by this function or by
    ``nest.Install(path)``). ``nest.ResetKernel()`` unloads every module: call this
    again afterwards, or ``nest.Install`` with the returned path. NEST is given the
    absolute path, so no ``LD_LIBRARY_PATH`` is involved.
    """
    import nest

    so = str(built.path)
    loaded = _loaded_modules(nest)
    if so in loaded:
        return so
    if not built.path.is_file():
        raise NestBuildError(f"{so} does not exist (cache cleaned?); call build_nest_module again")
    if "so_sha256" in built.manifest and file_sha256(built.path) != built.manifest["so_sha256"]:
        raise NestBuildError(f"{so} does not match its manifest (damaged); call build_nest_module "
                             "again to rebuild it")
    models = set(nest.node_models)
    clash = [n for n in built.neuron_names if n in models]
    if clash:
        raise NestBuildError(
            f"cannot install {built.module_name}: this NEST kernel already has model(s) "
            f"{', '.join(clash)} (from NEST itself or another module; loaded: "
            f"{', '.join(loaded) or 'none'}). Call nest.ResetKernel() first or "
            "use different neuron names.")
    try:
        nest.Install(so)
    except Exception as e:
        raise NestBuildError(f"NEST could not load {so}: {e}") from e
    models = set(nest.node_models)
    missing = [n for n in built.neuron_names if n not in models]
    if missing:
        raise NestBuildError(f"{built.module_name} was loaded but does not define {', '.join(missing)}")
    return so


def _loaded_modules(nest) -> list:
    try:
        return list(nest.GetKernelStatus("modules") or [])
    except Exception:
        return []
