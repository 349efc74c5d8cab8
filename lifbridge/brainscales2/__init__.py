"""BrainScaleS-2: lifbridge models as pynn_brainscales scripts, range-checked, and the analog
substrate emulated.

* :mod:`.mapping`: which model is which cell type (CalibHXNeuronCuba, CalibHXNeuronCoba,
  HXNeuron), the translation to CADC units and hardware microseconds, and the ranges;
* :mod:`.script`: the ``brainscales2`` code generator;
* :mod:`.emulate`: the calibrated LIF in hardware units with quantisation, per-neuron
  mismatch and the membrane's range (runner :mod:`lifbridge.runners.brainscales2_emulated`).

Nothing here imports pynn_brainscales (it is not on the package registry);
:func:`lifbridge.pynn.brainscales2.cell_type` uses it when it is importable.
"""
