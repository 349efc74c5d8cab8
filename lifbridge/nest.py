"""NEST backend: generate NESTML, compile it into a NEST extension module, load it.

>>> import lifbridge.nest, nest
>>> lifbridge.nest.install(["lif", "adex"])      # doctest: +SKIP
'lifbridge_3f2a...module'
>>> nest.Create("lif_neuron")                     # doctest: +SKIP

Modules are cached by content hash (see :mod:`lifbridge.nest_build`): a second
``install`` of the same models takes well under a second. ``nest.ResetKernel()``
unloads modules; call ``install`` again afterwards.
"""

from __future__ import annotations

from .model import Model
from .nestml import neuron_name, to_nestml
from .spec import bundled_models, load

# Module-level code generator options, part of the cache key.
CODEGEN_OPTS = {"numeric_solver": "rk45"}


def _as_models(models):
    if models is None:
        models = bundled_models()
    if isinstance(models, (str, Model)):
        models = [models]
    return [m if isinstance(m, Model) else load(m) for m in models]


def nestml_sources(models=None) -> dict:
    """NEST model name -> NESTML source, for the given models (default: every bundled model)."""
    sources = {}
    for model in _as_models(models):
        sources[neuron_name(model)] = to_nestml(model)
    return sources


def build(models=None, *, verbose=False, cache_dir=None):
    """Compile (or find in the cache) the NEST module holding ``models``; returns a BuiltModule."""
    from .nest_build import build_nest_module

    return build_nest_module(nestml_sources(models), cache_dir=cache_dir, verbose=verbose,
                             codegen_opts=CODEGEN_OPTS)


def install(models=None, *, verbose=False, cache_dir=None) -> str:
    """Build (cached) and load the module with ``models`` into the running NEST kernel.

    ``models``: bundled names, model files or Model objects (default: every bundled
    model). Returns the module name; afterwards ``nest.Create("<model>_neuron")`` works.
    """
    from .nest_build import install_nest_module

    return install_nest_module(build(models, verbose=verbose, cache_dir=cache_dir))


def parameter_status(model: Model) -> dict:
    """The model's parameters as NEST status values (NESTML keeps the spec's units)."""
    return {name: float(p.value) for name, p in model.parameters.items()}
