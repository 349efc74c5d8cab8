"""SpiNNaker's neuron arithmetic, emulated with numpy (backend ``spinnaker.emulated``).

sPyNNaker 7.4.1 runs each neuron model as integer arithmetic on ARM968 cores: every
parameter and state variable is an s16.15 fixed-point number (``accum``: 15 fraction
bits, range [-65536, 65535.99997], resolution 2^-15 = 3.05e-5), every multiply is a
64-bit product shifted right by 15 (floor, no rounding, no saturation), decays are
u0.32 fractions, and weights travel as 16-bit integers shifted left by a per-synapse-type
"ring-buffer shift". This package reproduces that arithmetic step for step, so that a
model can be run with the hardware's numerical error before it is deployed:

* :mod:`lifbridge.spinnaker.fixed`: s16.15 / u0.32 encoding, floor multiplies with
  32-bit wrap-around (detected, never hidden), the chip's truncating divisions and its
  exponentials (see the module for how ``expk``/``expulr`` are approximated);
* :mod:`lifbridge.spinnaker.mapping`: which lifbridge model maps to which sPyNNaker
  cell type (same, nearest, or not available) and the parameter translation into
  PyNN/sPyNNaker units (ms, mV, nA, nF, uS);
* :mod:`lifbridge.spinnaker.emulate`: the per-tick update of sPyNNaker's
  ``neuron_impl_standard.h`` for the LIF closed form and the Izhikevich RK2 scheme,
  with exponential, delta and conductance synapses and the weight quantisation of the
  ring buffers.

Every fact about the C code is cited in the code next to where it is used
(repository SpiNNakerManchester/sPyNNaker, ``neural_modelling/src/...``, and
SpiNNakerManchester/spinn_common). The same update can run in double precision
(``arithmetic="float"``) to separate the time-stepping scheme's error from the
fixed-point error.
"""
