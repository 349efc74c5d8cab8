"""s16.15 and u0.32 fixed-point arithmetic as sPyNNaker 7.4.1 does it, on numpy int64 arrays.

Numbers are held as their bits: an s16.15 value x is the integer ``x * 2**15``
(int64 arrays holding int32 values), a u0.32 fraction d the integer ``d * 2**32``.

What the chip does, and where it is written:

* ``accum`` is ISO stdfix s16.15 (``typedef accum REAL;`` in sPyNNaker
  ``neural_modelling/src/common/maths-util.h``; ``typedef accum s1615;`` in spinn_common
  ``include/stdfix-full-iso.h``): range [-65536, 65535.99997], resolution 2^-15.
* ``accum * accum`` is GCC's plain code, a 64-bit ``smull`` and ``>> 15``: floor, no
  rounding, no saturation, wrap-around to 32 bits (the 7.4.1 ``IF_curr_exp_neuron.aplx``
  binary; the rounding macros of spinn_common ``include/round.h`` are not used there).
  Additions and subtractions wrap too. :func:`mul`, :func:`add` and :func:`sub` do the
  same and report every wrap-around (a wrapped value is never data).
* ``decay_s1615(x, d)`` (``neural_modelling/src/neuron/decay.h``): signed x unsigned
  64-bit product, arithmetic ``>> 32`` (floor): :func:`decay`.
  ``decay_s1615_to_u032``: ``(x * d) >> 15`` truncated to u0.32: :func:`decay_to_u032`.
* ``kdivk(a, b) = (a << 15) / b`` and ``kdivui(a, n) = a / n``, unsigned long divisions
  that truncate (maths-util.h, ``udiv64``): :func:`kdivk`, :func:`kdivui`.
* The host encodes a parameter with ``DataType.encode_as_int``:
  ``round(Decimal(str(value)) * 32768)``, round half to even, after a range check that
  raises for a value outside [-65536, 65535.99997] (spinn_front_end_common
  ``interface/ds/data_type.py``): :func:`encode`, with a one-line error naming the
  parameter, its value and the range.

Exponentials. sPyNNaker 7.x computes every exponential once on the chip, at
initialisation, with spinn_common's ``expk`` (s16.15 result) and ``expulr`` (u0.32
result) of ``src/stdfix-exp.c``. Those are spinn_common's own minimax approximation
(a table of e^z, a table of e^(-k/16) and a quadratic for the rest) and they truncate.
This module does **not** reproduce that code: :func:`expk` is ``floor(exp(x) * 2**15)``
and :func:`expulr` is ``floor(exp(x) * 2**32)``, computed in double precision. The
chip's values were measured within about 1 LSB of these (``expk(-0.05)`` = 0.95123291
on the chip, exp(-0.05) = 0.95124104; ``expulr(-0.2)`` within 1e-6 relative), so a
decay such as the LIF's ``exp_TC`` may differ by 1 LSB of s16.15 (3e-5) from the
chip's. That is a stated limit of this emulation, not hidden: the resulting error in a
membrane time constant is below 3e-5 / (dt/tau_m) relative (0.3% at dt = 0.1 ms,
tau_m = 10 ms; 0.06% at dt = 1 ms, tau_m = 20 ms), and the tolerance rows of the
backend carry it.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from ..errors import ParameterError

#: s16.15: fraction bits, resolution, range (bits and values).
FRACTION_BITS = 15
ONE = 1 << FRACTION_BITS
LSB = 1.0 / ONE
MIN_BITS, MAX_BITS = -(1 << 31), (1 << 31) - 1
MIN_VALUE, MAX_VALUE = MIN_BITS / ONE, MAX_BITS / ONE      # -65536, 65535.999969482421875
#: u0.32
U032_ONE = 1 << 32
U032_MAX = U032_ONE - 1

RANGE_TEXT = "[-65536, 65535.99997]"

def wrap32(x):
    """(x wrapped to int32 as the ARM does, mask of the elements that wrapped)."""
    x = np.asarray(x, dtype=np.int64)
    wrapped = ((x - MIN_BITS) & 0xFFFFFFFF) + MIN_BITS
    return wrapped, wrapped != x

class Tracker:
    """Collects the neurons whose arithmetic wrapped around 32 bits, and the first value of each.

    ``ops`` below take an optional tracker; the emulation checks it after every step and
    reports the first wrap as a divergence (time, variable, value before the wrap).
    """

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool)
        self.what = {}      # neuron -> (operation, exact value as a float)

    def note(self, mask, exact, what: str):
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), self.mask.shape) if np.ndim(mask) else \
            np.full(self.mask.shape, bool(mask))
        if not mask.any():
            return
        exact = np.broadcast_to(np.asarray(exact, dtype=float), self.mask.shape)
        for i in np.flatnonzero(mask & ~self.mask):
            self.what[int(i)] = (what, float(exact[i]))
        self.mask |= mask

def _noted(tracker, x64, what, scale=LSB):
    wrapped, mask = wrap32(x64)
    if tracker is not None and np.any(mask):
        tracker.note(mask, np.asarray(x64, dtype=float) * scale, what)
    return wrapped

# ---------------------------------------------------------------------------- encoding
def encode(value, name: str, unit: str = ""):
    """The s16.15 bits of ``value`` (a number or per-neuron array, in sPyNNaker's unit ``unit``).

    Round half to even, as the host does. A value outside the range is a ParameterError
    naming ``name``, the value and the range.
    """
    array = np.asarray(value, dtype=float)
    bad = ~np.isfinite(array) | (array < MIN_VALUE) | (array > MAX_VALUE)
    if np.any(bad):
        shown = float(array.ravel()[np.flatnonzero(bad.ravel())[0]])
        raise ParameterError(f"{name} = {shown:.6g}{' ' + unit if unit else ''} is outside the s16.15 range "
                             f"{RANGE_TEXT} of SpiNNaker's fixed-point numbers; choose units or a value "
                             f"within it")
    if array.ndim == 0:
        # DataType.encode_as_int: round(Decimal(str(value)) * 32768), ties to even
        bits = int((Decimal(str(float(array))) * ONE).to_integral_value(rounding=ROUND_HALF_EVEN))
        return np.int64(bits)
    # DataType.encode_as_numpy_int_array: np.round(array * 32768), ties to even
    return np.rint(array * ONE).astype(np.int64)

def value(bits):
    """The s16.15 value(s) of ``bits`` as floats."""
    return np.asarray(bits, dtype=float) * LSB

def u032_value(bits):
    """The u0.32 value(s) of ``bits`` as floats."""
    return np.asarray(bits, dtype=float) / U032_ONE

def resolution(value_: float) -> float:
    """Relative resolution of ``value_`` in s16.15 (one LSB over |value|; inf for 0)."""
    return LSB / abs(value_) if value_ else math.inf

def rounding_error(value_) -> np.ndarray:
    """encoded - value: what encoding changes (at most half an LSB, 1.5e-5)."""
    return value(encode(value_, "value")) - np.asarray(value_, dtype=float)

# ---------------------------------------------------------------------------- arithmetic
def mul(a, b, tracker=None, what="a product"):
    """accum * accum: ``(a * b) >> 15`` (floor), wrapped to 32 bits."""
    product = np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)
    return _noted(tracker, product >> FRACTION_BITS, what)

def add(a, b, tracker=None, what="a sum"):
    """accum + accum, wrapped to 32 bits."""
    return _noted(tracker, np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64), what)

def sub(a, b, tracker=None, what="a difference"):
    """accum - accum, wrapped to 32 bits."""
    return _noted(tracker, np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64), what)

def half(x):
    """``REAL_HALF(x) = x * 0.5k``: a multiply by 0x4000 and ``>> 15``, i.e. floor(x / 2) (maths-util.h)."""
    return (np.asarray(x, dtype=np.int64) * (ONE >> 1)) >> FRACTION_BITS

def decay(x, d):
    """``decay_s1615(x, d)``: s16.15 times u0.32, ``(x * d) >> 32`` (floor; decay.h). Cannot wrap."""
    return (np.asarray(x, dtype=np.int64) * np.asarray(d, dtype=np.int64)) >> 32

def decay_to_u032(x, d):
    """``decay_s1615_to_u032(x, d)``: ``(x * d) >> 15`` as u0.32 (low 32 bits kept; decay.h)."""
    return ((np.asarray(x, dtype=np.int64) * np.asarray(d, dtype=np.int64)) >> FRACTION_BITS) & 0xFFFFFFFF

def kdivk(a, b, name="a quotient"):
    """``kdivk(a, b)``: ``(a << 15) / b``, unsigned and truncating (maths-util.h); a, b > 0.

    The chip's version is only right for positive arguments; a non-positive one is a
    ParameterError here.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ParameterError(f"{name}: SpiNNaker's kdivk divides positive s16.15 numbers only; make the "
                             f"time constants and the capacitance positive")
    return ((a << FRACTION_BITS) // b) & 0xFFFFFFFF

def kdivui(a, n: int):
    """``kdivui(a, n)``: ``a / n`` on the bits, truncating (maths-util.h)."""
    return np.asarray(a, dtype=np.int64) // int(n)

def ceil_accum(x):
    """``lif_ceil_accum``: the integer part, plus one if any fraction bit is set (neuron_model_lif_impl.h)."""
    x = np.asarray(x, dtype=np.int64)
    return (x >> FRACTION_BITS) + ((x & (ONE - 1)) != 0)

def expk(x):
    """e^x as s16.15 bits: ``floor(exp(x) * 2**15)`` in double precision (the chip's ``expk``
    is spinn_common's truncating minimax approximation, within about 1 LSB of this; see
    the module docstring). Saturates as the chip's does: INT32_MAX above x = 363408
    bits, 0 below -340695 bits."""
    x = np.asarray(x, dtype=np.int64)
    with np.errstate(over="ignore"):
        out = np.floor(np.exp(x.astype(float) * LSB) * ONE)
    out = np.where(x > 363408, MAX_BITS, np.where(x < -340695, 0, out))
    return np.minimum(out, MAX_BITS).astype(np.int64)

def expulr(x):
    """e^x as u0.32 bits: ``floor(exp(x) * 2**32)`` in double precision, low 32 bits kept
    (the chip's ``expulr`` truncates its 64-bit result the same way, so ``expulr(0)`` is 0;
    the approximation is the same as for :func:`expk`)."""
    x = np.asarray(x, dtype=np.int64)
    out = np.floor(np.exp(np.minimum(x, 0).astype(float) * LSB) * U032_ONE).astype(np.int64)
    return out & 0xFFFFFFFF
