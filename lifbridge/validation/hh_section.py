"""The HH-derived equivalents as a report section.

:func:`hh_section` turns the plain result of :func:`lifbridge.judge.hh_equivalent`
into a :class:`lifbridge.records.Section` (measurements, derived parameters, f-I and
spike-agreement tables, the figure as panels of data series, the paragraph on what does
not match); its check records are the judge's own. The report draws and shows the
section from these numbers alone. Nothing here imports a simulator.
"""

from __future__ import annotations

import numpy as np

from ..analytic import lif_rate
from ..judge.measure import MEASUREMENTS
from ..records import Figure, Panel, Section, Series, Table

COLORS = {"hh": "black", "lif": "tab:blue", "adex": "tab:red"}
LABELS = {"hh": "HH", "lif": "equivalent LIF", "adex": "equivalent AdEx"}

def hh_section(result):
    """The :class:`Section` of the HH-equivalent result (its checks are the judge's own records)."""
    from ..judge import what_does_not_match as _honest_paragraph

    m, sa, fi = result["measurements"], result["spike_agreement"], result["fi"]
    units = result.get("units", {})
    div = m["dynamic_iv"]
    numbers = [{"name": key, "label": text, "value": m.get(key), "unit": unit} for key, text, unit in MEASUREMENTS]
    numbers += [{"name": f"dynamic_iv.{key}", "label": f"dynamic I-V: {label}", "value": div[key], "unit": unit}
                for key, label, unit in (("tau_ms", "tau", "ms"), ("E_L_mV", "E_L", "mV"), ("V_T_mV", "V_T", "mV"),
                                         ("Delta_T_mV", "Delta_T", "mV"))]
    tables = []
    for name in ("lif", "adex"):
        params = result[f"{name}_parameters"]
        unit_of = units.get(f"{name}_parameters", {})
        tables.append(Table(f"{name}_parameters", f"Derived parameters: equivalent {name.upper()}",
                            [["parameter", ""], ["value", ""], ["unit", ""]],
                            [[k, v, unit_of.get(k, "")] for k, v in params.items()]))
    tables.append(Table("fi", "f-I curves", [["I", "pA"], ["I / rheobase", "1"], ["HH", "Hz"], ["LIF", "Hz"],
                                             ["LIF closed form", "Hz"], ["AdEx", "Hz"]],
                        [[cur, fi["multiples_of_rheobase"][i]] + [fi[k][i] for k in ("hh_hz", "lif_hz",
                                                                                    "lif_closed_form_hz", "adex_hz")]
                         for i, cur in enumerate(fi["currents_pA"])]))
    rows = []
    for protocol in ("step", "noise"):
        for name in ("lif", "adex"):
            g = sa[protocol][name]
            rows.append([protocol, name, g["gamma"], f"{g['n_coincident']}/{g['n_hh']}", g["n_model"],
                         g.get("mean_lag_ms")])
    tables.append(Table("spike_agreement", f"Spike-time agreement (coincidence factor, +-{sa['window_ms']:g} ms)",
                        [["stimulus", ""], ["model", ""], ["Gamma", "1"], ["HH spikes matched", ""],
                         ["model spikes", ""], ["mean lag", "ms"]], rows))
    text = [f"Everything below is measured on the hh model through the reference integrator ({result['protocol']} "
            "protocol) and compared through it.", "What does not match: " + _honest_paragraph(result)]
    figures = [_figure(result)] if result.get("figure_data") else []
    section = Section(name="hh_equivalent", title="Hodgkin-Huxley-derived equivalents", model="hh", text=text,
                      numbers=numbers, tables=tables, figures=figures,
                      data={k: result[k] for k in ("measurements", "lif_parameters", "adex_parameters",
                                                   "adex_derivation", "fi", "spike_agreement", "class2_gap",
                                                   "protocol", "units") if k in result})
    return section


def _style(name, **more):
    return {"color": COLORS[name], **more}


def _figure(result) -> Figure:
    m, fi, d = result["measurements"], result["fi"], result["figure_data"]
    lif_p = result["lif_parameters"]
    currents = np.asarray(fi["currents_pA"], dtype=float)
    fine = np.linspace(0, currents.max(), 600)
    closed = lif_rate(fine, **{k: lif_p[k] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref")})
    fi_series = [Series("line", fine, closed, label="LIF closed form", style=_style("lif", lw=1, ls="--"))]
    for key, name in (("hh_hz", "hh"), ("lif_hz", "lif"), ("adex_hz", "adex")):
        fi_series.append(Series("line", currents, fi[key], label=f"{LABELS[name]} (reference)",
                                style=_style(name, marker="o" if name == "hh" else "s", ms=4, lw=1.2,
                                             ls="-" if name == "hh" else "none")))
    fi_series.append(Series("vline", [m["rheobase_pA"]], style={"color": "0.6", "lw": 0.8, "ls": ":"}))
    step = [Series("line", d["trace_t_ms"], d["step_V_m_mV"][name], label=LABELS[name], style=_style(name, lw=1))
            for name in ("hh", "lif", "adex")]
    noise = np.asarray(d["noise_pA"], dtype=float)
    t_noise = np.arange(len(noise)) * d["noise_dt_ms"]
    show = t_noise < min(d["noise_test_ms"], 1000.0)
    scaled = (noise[show] - noise.mean()) / (4 * noise.std()) - 1.5  # the input, drawn below the rasters
    raster = [Series("line", t_noise[show], scaled, style={"color": "0.55", "lw": 0.5})]
    for row, name in enumerate(("adex", "lif", "hh")):
        spikes = np.asarray(d["noise_spikes_ms"][name], dtype=float)
        raster.append(Series("raster", spikes[spikes < t_noise[show][-1]], [row], style=_style(name, lw=1.2)))
    bins = div_bins = m["dynamic_iv"]["bins"]
    div = m["dynamic_iv"]
    v = np.asarray(div_bins["V_mV"], dtype=float)
    vv = np.linspace(v.min(), div["fit_range_mV"][1] + 5, 300)
    fit = (div["E_L_mV"] - vv + div["Delta_T_mV"] * np.exp((vv - div["V_T_mV"]) / div["Delta_T_mV"])) / div["tau_ms"]
    dyn = [Series("errorbar", v, bins["F_mV_per_ms"], yerr=bins["sd_mV_per_ms"], label="HH: mean +- sd of I_ion/C",
                  style={"color": "black", "marker": "o", "ms": 3, "lw": 0.6, "ls": "none"}),
           Series("line", vv, fit, label="exponential fit", style={"color": COLORS["adex"]}),
           Series("hline", [], [0], style={"color": "0.7", "lw": 0.6})]
    panels = [
        Panel("f-I curves", "current (pA)", "steady rate (Hz)", fi_series),
        Panel(f"step to {d['step_multiple']:g}x rheobase at {d['step_onset_ms']:g} ms", "time (ms)", "V_m (mV)", step,
              y_lim=[-90, 45], legend_loc="upper right"),
        Panel(f"frozen noisy current (mean {d['noise_mean']:g}, sd {d['noise_sd']:g} x rheobase): spikes",
              "time (ms)", "", raster, y_lim=[-2.6, 2.6], y_ticks=[-1.5, 0, 1, 2],
              y_tick_labels=["input", "AdEx", "LIF", "HH"], legend=False),
        Panel("dynamic I-V curve", "V_m (mV)", "F(V) = I_ion/C (mV/ms)", dyn, y_lim=[-8, 40]),
    ]
    return Figure("hh_equivalent", "Hodgkin-Huxley neuron and its integrate-and-fire equivalents (reference "
                  "integrator)", rows=2, cols=2, width=11, height=8, dpi=110, panels=panels)
