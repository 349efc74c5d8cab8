"""lifbridge: canonical spiking-neuron models, written once, generated for Brian2, NEST and PyNN.

>>> import lifbridge
>>> model = lifbridge.load("lif")
>>> model.parameters["C_m"].value, model.parameters["C_m"].unit.name
(250.0, 'pF')

``lifbridge.load("lif_psc_alpha")``, ``lifbridge.load("adex", synapses="cond_alpha")`` and
``lifbridge.load("lif", receptors=[...])`` compose a neuron with synapse kinetics
(:mod:`lifbridge.compose`); :func:`compositions` lists the composed names.

``import lifbridge`` imports no simulator; each backend module imports its own.
"""

from .errors import (BackendUnavailable, ExpressionError, LifbridgeError, ParameterError, SpecError,
                     UnitError)
from .model import Model
from .compose import compositions, kinetics_names
from .spec import bundled_models, load, models_dir

__version__ = "0.1.0"

__all__ = ["load", "bundled_models", "compositions", "kinetics_names", "models_dir", "Model", "LifbridgeError", "SpecError", "UnitError",
           "ExpressionError", "ParameterError", "BackendUnavailable", "__version__"]
