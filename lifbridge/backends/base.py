"""What a backend declares: :class:`Backend` and its parts.

A backend module (``lifbridge/backends/<name>.py``) defines ``BACKEND = Backend(...)``.
Everything heavy (the simulator, the runner, the code generator) is named by a dotted
path and imported only when used, so reading a declaration imports no simulator.
"""

from __future__ import annotations

import importlib
import inspect
import importlib.util
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable

from ..errors import BackendUnavailable, LifbridgeError

#: How well a backend can simulate a model (see :class:`Capability`).
EXACT, APPROXIMATE, UNSUPPORTED = "exact", "approximate", "unsupported"


class OptionError(LifbridgeError):
    """A run option a backend does not take, or a value it does not accept."""


def _load(path: str):
    """The object named by ``"package.module:attribute"`` (or the module for ``"package.module"``)."""
    module, _, attribute = path.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


@dataclass(frozen=True)
class Generator:
    """A code generator (``lifbridge generate MODEL --target NAME``)."""

    function: str            # "package.module:function", called as function(model[, dt_ms=...]) -> source text
    description: str
    suffix: str = ""         # file name suffix of what it writes

    def __call__(self, model, dt_ms=None) -> str:
        """The generated text; ``dt_ms`` (ms) goes to a generator whose output has a time step."""
        function = _load(self.function)
        if dt_ms is not None and "dt_ms" in inspect.signature(function).parameters:
            return function(model, dt_ms=dt_ms)
        return function(model)

    @property
    def takes_time_step(self) -> bool:
        return "dt_ms" in inspect.signature(_load(self.function)).parameters


@dataclass(frozen=True)
class Option:
    """A run option of a backend (``--target`` for Brian2), checked by the backend."""

    choices: tuple
    default: str
    help: str
    validation_default: str | None = None   # the value full validation runs use (default: ``default``)

    def check(self, backend: str, name: str, value):
        if value not in self.choices:
            raise OptionError(f"--{name} {value!r}: not a {backend} {name}; choose one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class Capability:
    """How a backend simulates one model: ``support`` is exact, approximate or unsupported.

    ``reason`` says why (the integration scheme, a known gap); ``error`` quantifies an
    approximation where it is known (from the tolerance table), else "".
    """

    model: str
    backend: str
    support: str
    reason: str
    error: str = ""

    def as_record(self) -> dict:
        return {"model": self.model, "backend": self.backend, "support": self.support, "reason": self.reason,
                "error": self.error}


@dataclass(frozen=True)
class Command:
    """A command of the command line that belongs to one backend (``lifbridge nest-build``)."""

    name: str
    help: str
    add_arguments: Callable      # (argparse parser) -> None
    handler: Callable            # (parsed args) -> exit status or None


@dataclass(frozen=True)
class Backend:
    """One simulator lifbridge runs models on.

    * ``packages``: (import name, pip distribution) pairs the backend needs;
      ``install_hint`` is the one-line fix when one is missing.
    * ``probe``: optional; returns a one-line note on what does not work here although
      the packages are installed (e.g. no compiler for new NEST modules), or "".
    * ``runner``: module with ``simulate(model, stimulus, *, duration_ms, dt_ms, record,
      record_neurons, **options_and_overrides) -> SimResult`` and ``versions()``.
    * ``generators``: target name -> :class:`Generator`.
    * ``options``: run option name -> :class:`Option`.
    * ``capability``: ``(model, backend name) -> Capability``.
    * ``in_quick_runs``: ``validate --quick`` runs it unless ``--backends`` is given.
    * ``in_full_runs``: ``validate`` (full) runs it unless ``--backends`` is given.
    * ``step_note``: optional ``(model) -> str``, why a finer step matters here (for ``run``'s note).
    * ``commands``: command-line commands of this backend.
    * ``tolerances``: rows of the tolerance table that concern this backend alone
      (:class:`lifbridge.validation.tolerances.Tolerance`, its own methods' accuracy,
      each with its reason); merged into the one table by ``tolerance_for``.
    * ``known_gaps``: known gaps of this backend alone (:class:`lifbridge.validation.tolerances.KnownGap`,
      each with its reason); merged into the one table by ``known_gap``.
    * ``report_time_steps``: time steps (ms) at which ``validate`` also measures the f-I error
      and the spike-time drift of each model it supports (:mod:`lifbridge.validation.time_steps`);
      ``report_numbers``: ``"package.module:function"``, ``function(model, dt_ms)`` -> rows
      ``{"name", "label", "value", "unit"}`` the backend adds to that part of the report.
    * ``mismatch_options``: run options under which the backend draws per-neuron variability
      (e.g. an analog chip's mismatch); ``validate`` then reports the f-I curve as the spread
      across many emulated neurons against the closed form (:mod:`lifbridge.validation.mismatch`).
    * ``runs_here``: optional; returns "" if runs give results here, else why not although the
      backend is installed (a virtual SpiNNaker board maps networks and runs nothing).
    * ``modules``: the package's modules that belong to this backend (its path from the
      model object to the simulator); only these may name it (``tests/test_backends.py``).
    """

    name: str
    label: str
    description: str
    packages: tuple
    install_hint: str
    runner: str
    capability: Callable
    generators: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    probe: Callable | None = None
    in_quick_runs: bool = False
    in_full_runs: bool = True
    color: str = "tab:purple"
    step_note: Callable | None = None
    commands: tuple = ()
    modules: tuple = ()
    tolerances: tuple = ()
    known_gaps: tuple = ()
    report_time_steps: tuple = ()
    report_numbers: str | None = None
    runs_here: Callable | None = None
    mismatch_options: MappingProxyType | None = None

    # ------------------------------------------------------------------ availability
    def missing_packages(self) -> list:
        """The pip distributions of the packages that cannot be imported."""
        missing = []
        for module, dist in self.packages:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # sys.modules[module] = None, or a broken package
                found = False
            if not found:
                missing.append(dist)
        return missing

    def unavailable_reason(self) -> str:
        """"" when the backend can run here, else one line: what is missing and how to install it."""
        missing = self.missing_packages()
        if missing:
            modules = [m for m, d in self.packages if d in missing]
            return (f"backend {self.name!r} needs the Python package(s) {', '.join(modules)}; "
                    f"install them with: {self.install_hint}")
        return ""

    def available(self) -> bool:
        return not self.unavailable_reason()

    def require(self) -> "Backend":
        """This backend, or BackendUnavailable (one line, with the install hint)."""
        reason = self.unavailable_reason()
        if reason:
            raise BackendUnavailable(reason)
        return self

    def numbers_at(self, model, dt_ms: float) -> list:
        """The rows the backend adds to its time-step part of the report (``report_numbers``), or []."""
        return _load(self.report_numbers)(model, dt_ms) if self.report_numbers else []

    def cannot_run_reason(self) -> str:
        """"" if this backend's runs give results here, else one line saying why (see ``runs_here``)."""
        reason = self.unavailable_reason()
        if reason or self.runs_here is None:
            return reason
        return self.runs_here()

    def notes(self) -> str:
        """What does not work although the backend is installed (its probe), or ""."""
        if self.probe is None or not self.available():
            return ""
        return self.probe()

    # ------------------------------------------------------------------ running
    def runner_module(self):
        """The runner module (imports the simulator's glue, not necessarily the simulator)."""
        self.require()
        return _load(self.runner)

    def run_options(self, given=None, *, validation=False, quick=False) -> dict:
        """Every run option of this backend with ``given`` applied and checked.

        Defaults are each option's ``default``, or its ``validation_default`` for a full
        (not quick) validation run. A name this backend does not take is an OptionError
        naming the backends that take it.
        """
        given = {k: v for k, v in (given or {}).items() if v is not None}
        for name in given:
            if name not in self.options:
                from . import names, get

                takers = [b for b in names() if _takes(get, b, name)]
                where = f"--backend {' or '.join(takers)} only" if takers else "no backend"
                raise OptionError(f"--{name} applies to {where} (got --backend {self.name}); drop --{name}")
        out = {}
        for name, option in self.options.items():
            if name in given:
                out[name] = option.check(self.name, name, given[name])
            elif validation and not quick and option.validation_default is not None:
                out[name] = option.validation_default
            else:
                out[name] = option.default
        return out

    def simulate(self, model, stimulus, *, duration_ms, dt_ms=0.1, options=None, **kwargs):
        """Run ``model`` under ``stimulus``; ``options`` are run options (checked), ``kwargs``
        go to the runner (``record``, ``record_neurons``, overrides)."""
        return self.runner_module().simulate(model, stimulus, duration_ms=duration_ms, dt_ms=dt_ms,
                                             **self.run_options(options), **kwargs)

    def versions(self) -> dict:
        return self.runner_module().versions()

    # ------------------------------------------------------------------ describing
    def capability_of(self, model) -> Capability:
        return self.capability(model, self.name)

    def describe(self) -> dict:
        reason = self.unavailable_reason()
        return {"name": self.name, "label": self.label, "description": self.description,
                "available": not reason, "reason": reason, "notes": self.notes(),
                "install": self.install_hint,
                "packages": [dist for _, dist in self.packages],
                "generate_targets": {t: g.description for t, g in self.generators.items()},
                "options": {n: {"choices": list(o.choices), "default": o.default, "help": o.help}
                            for n, o in self.options.items()},
                "in_quick_runs": self.in_quick_runs,
                "commands": [c.name for c in self.commands], "modules": list(self.modules)}


def _takes(get, backend, option) -> bool:
    try:
        return option in get(backend).options
    except BackendUnavailable:
        return False


def tolerance_text(check: str, model: str, backend: str) -> str:
    """The tolerance table's allowance for (check, model, backend), as words ("" if none)."""
    from ..validation.tolerances import tolerance_for

    try:
        row = tolerance_for(check, model, backend)
    except KeyError:
        return ""
    parts = []
    if row.steps:
        parts.append(f"{row.steps:g} time step(s) of grid error")
    if row.rel:
        parts.append(f"{row.rel:.0%}")
    if row.abs:
        parts.append(f"{row.abs:g} absolute")
    return f"{check}: within {' + '.join(parts)}" if parts else ""


def gap_of(model: str, backend: str):
    """The tolerance table's known gap for the whole (model, backend) pair, or None."""
    from ..validation.tolerances import known_gap

    return known_gap(model, backend, "*")


def bundled_model_gaps(backend: str, reason_of: Callable) -> tuple:
    """A known gap (protocol "*") for every bundled neuron and composition that ``backend``
    cannot run: ``reason_of(model)`` gives the reason, or "" for a model it runs."""
    from ..compose import compositions, neurons
    from ..spec import load
    from ..validation.tolerances import KnownGap

    gaps = []
    for name in sorted(set(compositions()) | set(neurons())):
        try:
            model = load(name)
        except Exception:  # noqa: BLE001 - a model that does not load has no gap to declare
            continue
        reason = reason_of(model)
        if reason:
            gaps.append(KnownGap(name, backend, "*", reason))
    return tuple(gaps)
