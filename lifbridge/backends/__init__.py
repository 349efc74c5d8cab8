"""The backend registry: every simulator lifbridge can run a model on, by name.

Each backend is one module of this package that defines ``BACKEND`` (a
:class:`lifbridge.backends.base.Backend`): its name, the packages it needs and the
install hint, its capabilities per model, its runner, its code generators
(``lifbridge generate --target``), its run options and its own commands. The table
below is the only place that lists them; the command line, the validation harness and
the report read it, so adding a backend is one module and one line here.

Backend modules are imported when first asked for and import no simulator themselves,
so ``import lifbridge`` (and this registry) works without any simulator installed. A
backend whose module cannot be imported is reported unavailable with the reason; the
others keep working.

>>> from lifbridge import backends
>>> backends.names()
('brian2', 'nest', 'pynn.nest', 'pynn.brian2', 'pynn.neuron', 'spinnaker.emulated', 'pynn.spinnaker', 'nir', 'brainscales2.emulated')
>>> backends.get("brian2").generators["brian2"].description   # doctest: +ELLIPSIS
'...'
"""

from __future__ import annotations

import difflib
import importlib
from types import MappingProxyType

from ..errors import BackendUnavailable
from .base import APPROXIMATE, EXACT, UNSUPPORTED, Backend, Capability, Command, Generator, Option, OptionError

__all__ = ["REGISTRY", "names", "get", "require", "available", "describe", "generators", "generator",
           "capabilities", "capability_matrix", "color", "Backend", "Capability", "Command", "Generator", "Option", "OptionError",
           "EXACT", "APPROXIMATE", "UNSUPPORTED"]

#: backend name -> module defining ``BACKEND``. One line per backend.
REGISTRY = MappingProxyType({
    "brian2": "lifbridge.backends.brian2",
    "nest": "lifbridge.backends.nest",
    "pynn.nest": "lifbridge.backends.pynn_nest",
    "pynn.brian2": "lifbridge.backends.pynn_brian2",
    "pynn.neuron": "lifbridge.backends.pynn_neuron",
    "spinnaker.emulated": "lifbridge.backends.spinnaker_emulated",
    "pynn.spinnaker": "lifbridge.backends.pynn_spinnaker",
    "nir": "lifbridge.backends.nir",
    "brainscales2.emulated": "lifbridge.backends.brainscales2_emulated",
})

_loaded: dict = {}


def names() -> tuple:
    """Every registered backend, installed or not, in registry order."""
    return tuple(REGISTRY)


def get(name: str) -> Backend:
    """The declaration of backend ``name`` (installed or not; see :func:`require`).

    An unknown name, or a backend whose module cannot be imported, is BackendUnavailable
    (one line).
    """
    if name in _loaded:
        return _loaded[name]
    if name not in REGISTRY:
        close = difflib.get_close_matches(str(name), list(REGISTRY), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise BackendUnavailable(f"unknown backend {str(name)[:60]!r}; {hint}backends: {', '.join(REGISTRY)}")
    try:
        backend = importlib.import_module(REGISTRY[name]).BACKEND
    except Exception as error:  # noqa: BLE001 - a broken backend module must not break the others
        raise BackendUnavailable(f"backend {name!r}: its module {REGISTRY[name]} cannot be imported "
                                 f"({type(error).__name__}: {' '.join(str(error).split())[:160]}); "
                                 f"reinstall lifbridge") from None
    _loaded[name] = backend
    return backend


def require(name: str) -> Backend:
    """Backend ``name`` if it can run here, else BackendUnavailable naming what to install."""
    return get(name).require()


def _declared():
    """(name, Backend or None, reason) for every registered backend."""
    for name in REGISTRY:
        try:
            yield name, get(name), ""
        except BackendUnavailable as error:
            yield name, None, str(error)


def available() -> list:
    """Names of the backends that can run here."""
    return [name for name, backend, _ in _declared() if backend is not None and backend.available()]


def describe() -> list:
    """One record per registered backend: availability and why, install hint, generator
    targets, options, notes (``lifbridge backends --json``)."""
    rows = []
    for name, backend, reason in _declared():
        if backend is None:
            rows.append({"name": name, "label": name, "description": "", "available": False, "reason": reason,
                         "notes": "", "install": "", "packages": [], "generate_targets": {}, "options": {},
                         "in_quick_runs": False, "commands": [], "modules": []})
        else:
            rows.append(backend.describe())
    return rows


def generators() -> dict:
    """Code generation target -> (backend name, :class:`Generator`), over every importable backend."""
    out = {}
    for name, backend, _ in _declared():
        if backend is not None:
            for target, gen in backend.generators.items():
                out[target] = (name, gen)
    return out


def generator(target: str) -> Generator:
    """The generator of ``target`` (BackendUnavailable for an unknown target)."""
    table = generators()
    if target not in table:
        raise BackendUnavailable(f"unknown target {str(target)[:60]!r}; targets: {', '.join(table)}")
    return table[target][1]


def commands() -> list:
    """Every backend's own command-line commands, as (backend name, :class:`Command`)."""
    return [(name, c) for name, backend, _ in _declared() if backend is not None for c in backend.commands]


def option_choices(option: str) -> tuple:
    """Every value any backend accepts for run option ``option`` (for the command line's choices)."""
    values = []
    for _, backend, _ in _declared():
        if backend is not None and option in backend.options:
            values += [c for c in backend.options[option].choices if c not in values]
    return tuple(values)


def capabilities(models, backends=None) -> list:
    """:class:`Capability` records for every model on every backend (default: all registered)."""
    out = []
    for name in (backends or names()):
        try:
            backend = get(name)
        except BackendUnavailable as error:
            out += [Capability(m.name, name, UNSUPPORTED, str(error)) for m in models]
            continue
        out += [backend.capability_of(m) for m in models]
    return out


def capability_matrix(models, backends=None) -> str:
    """The model x backend capability table as Markdown (README, ``lifbridge backends --matrix``):
    exact, approximate with the tolerance table's allowance, or unsupported; the reasons of
    the unsupported ones are numbered below the table."""
    columns = list(backends or names())
    found = {(c.model, c.backend): c for c in capabilities(models, columns)}
    notes: list = []
    lines = ["| model | " + " | ".join(f"`{n}`" for n in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for model in models:
        cells = []
        for name in columns:
            c = found[(model.name, name)]
            if c.support == UNSUPPORTED:
                if c.reason not in notes:
                    notes.append(c.reason)
                cells.append(f"unsupported ({notes.index(c.reason) + 1})")
            else:
                error = " ".join(c.error.split())
                cells.append(c.support + (f": {error}" if error else ""))
        lines.append(f"| `{model.name}` | " + " | ".join(cells) + " |")
    lines += [""] + [f"({k}) {' '.join(reason.split())}" for k, reason in enumerate(notes, 1)]
    return "\n".join(lines).rstrip() + "\n"


def color(name: str, default: str = "tab:purple") -> str:
    """The plot colour of a backend (``"nest:iaf_psc_exp"`` takes its backend's)."""
    base = str(name).split(":")[0]
    try:
        return get(base).color
    except BackendUnavailable:
        return default
