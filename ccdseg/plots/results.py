"""Plots of results: learning curves, confusion matrix, efficiency against charge, pixel histograms, spectra.

Every function takes plain arrays and numbers (what the evaluation computed)
and saves a PNG through `labels.finish_figure`.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ccdseg.core.classes import CLASS_COLOURS, CLASS_NAMES, N_CLASSES
from ccdseg.core.safe_write import write_atomically
from ccdseg.plots.labels import finish_figure


# %% Plots of results
def plot_learning_curves(log_path: Path, path: Path, show: bool = True) -> None:
    """Loss, accuracy and per-class validation F1 per epoch, from the CSV log (epochs not validated: gaps)."""
    import matplotlib.pyplot as plt

    with open(log_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in rows[0]:
            axes[0].plot(epochs, [float(r[key]) for r in rows], style, marker=".", label=key)
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if key in rows[0]:
            axes[1].plot(epochs, [float(r[key]) for r in rows], style, marker=".", label=key)
    for cid, name in enumerate(CLASS_NAMES):
        key = f"val_f1_{name.replace(' ', '_')}"
        if key in rows[0]:
            colour = np.clip(CLASS_COLOURS[cid], 0, 0.85)
            axes[2].plot(epochs, [float(r[key]) for r in rows], color=colour, marker=".", label=name)
    for ax, title in zip(axes, ("loss", "accuracy", "validation F1")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    axes[0].set_yscale("log")
    finish_figure(fig, path, show)


def plot_confusion(matrix: np.ndarray, path: Path, show: bool = True) -> None:
    """Row-normalised confusion matrix (truth rows, prediction columns) with counts."""
    import matplotlib.pyplot as plt

    fraction = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    shown = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{fraction[i, j]:.3f}\n{value}", ha="center", va="center",
                color="white" if fraction[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(N_CLASSES), CLASS_NAMES, rotation=30)
    ax.set_yticks(range(N_CLASSES), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    fig.colorbar(shown, ax=ax)
    finish_figure(fig, path, show)


def plot_efficiency(clusters: dict, intervals: dict, target: float, path: Path, title: str = "") -> None:
    """Cluster detection efficiency vs. deposited charge, one line per method, saved as PNG.

    clusters : the benchmark's cluster summary ({'methods': name -> {'bins': [...]}});
    intervals : name -> (low, high), the efficiency interval of each bin holding true clusters;
    target : the efficiency drawn as a dotted line.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for name, summary in clusters["methods"].items():
        rows = [b for b in summary["bins"] if b["true"]]
        centres = np.array([math.sqrt(b["low_adu"] * b["high_adu"]) for b in rows])
        eff = np.array([b["efficiency"] for b in rows])
        low, high = intervals[name]
        ax.errorbar(centres, eff, yerr=[eff - low, high - eff], marker="o", markersize=4, capsize=2, label=name)
    ax.axhline(target, color="grey", linestyle=":", label=f"{target:.0%}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlabel("deposited cluster charge (ADU)")
    ax.set_ylabel("detection efficiency (68 % interval)")
    ax.set_title(title or "true clusters found (8-connected components)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    finish_figure(fig, path, show=False)


def plot_injection(results: dict[str, dict], path: str | Path) -> None:
    """Efficiency against injected charge (log x), one line per method with 68 % intervals, as PNG."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, result in results.items():
        charge = np.asarray(result["charges_adu"])
        efficiency = np.asarray(result["efficiency"])
        errors = np.vstack([efficiency - np.asarray(result["efficiency_low"]), np.asarray(result["efficiency_high"]) - efficiency])
        label = f"{method} ({result['fakes_per_frame']:.2f} fakes / blank frame)"
        ax.errorbar(charge, efficiency, yerr=np.clip(errors, 0, None), marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    charges = sorted({q for result in results.values() for q in result["charges_adu"]})
    ax.set_xticks(charges, [f"{q:g}" for q in charges])
    ax.minorticks_off()
    ax.set_xlabel("injected charge (ADU)")
    ax.set_ylabel("detection efficiency")
    ax.set_ylim(-0.03, 1.05)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    finish_figure(fig, path, show=False)


def plot_pixel_histogram(
    image: np.ndarray,
    truth: np.ndarray,
    pedestal_adu: float | np.ndarray,
    path: str | Path | None = None,
    show: bool = True,
    gain_adu_per_electron: float | None = None,
) -> None:
    """Histogram of pixel values (h, w) above pedestal per truth class (log counts), saved as PNG.

    pedestal_adu : one value, or (h,) per row. With `gain_adu_per_electron`
    the values are in electrons, binned finely from -1 to 12 electrons so
    that the 0, 1, 2, ... electron peaks of a skipper CCD stand apart
    (brighter pixels are counted in the legend); otherwise in ADU over the
    whole range.
    """
    import matplotlib.pyplot as plt

    pedestal = np.asarray(pedestal_adu, dtype=np.float64)
    excess = np.asarray(image, dtype=np.float64) - (pedestal[:, None] if pedestal.ndim == 1 else pedestal)
    unit = "ADU"
    if gain_adu_per_electron:
        excess, unit = excess / gain_adu_per_electron, "electrons"
        bins = np.arange(-1.0, 12.0 + 1e-9, 0.04)
    else:
        bins = np.linspace(np.nanmin(excess), np.nanmax(excess), 200)
    fig, ax = plt.subplots(figsize=(7, 4))
    for cid, name in enumerate(CLASS_NAMES):
        values = excess[truth == cid]
        if values.size:
            beyond = int(np.count_nonzero(values > bins[-1]))
            label = f"{name} ({beyond:,} px above {bins[-1]:.0f})" if gain_adu_per_electron and beyond else name
            ax.hist(values, bins=bins, histtype="step", color=np.clip(CLASS_COLOURS[cid], 0, 0.9), label=label, log=True)
    ax.set_xlabel(f"pixel value above pedestal ({unit})")
    ax.set_ylabel("pixels")
    ax.legend(fontsize=8)
    finish_figure(fig, path, show)


def plot_summary(charge_adu: np.ndarray, n_pixels: np.ndarray, path: str | Path,
                 energy_kev: np.ndarray | None = None) -> Path:
    """Save a PNG with the charge spectrum (log-spaced bins) and the cluster sizes (n_pixels).

    charge_adu, n_pixels, energy_kev : (n,) a catalogue's columns of the
    same names. Where energies are known (finite), the spectrum is in keV
    and a third panel shows 0 to 10 keV in 0.1 keV bins, where the X-ray
    calibration lines (5.9 and 6.5 keV of 55Fe, 8.0 keV of copper) stand out.
    """
    import matplotlib.pyplot as plt

    energy = np.asarray(energy_kev if energy_kev is not None else [], dtype=np.float64)
    in_kev = energy.size > 0 and np.isfinite(energy).any()
    values = energy if in_kev else np.asarray(charge_adu, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    sizes = np.asarray(n_pixels, dtype=np.int64)
    fig, axes = plt.subplots(1, 3 if in_kev else 2, figsize=(15 if in_kev else 10, 4))
    unit = "keV" if in_kev else "ADU above pedestal"
    if values.size:
        low, high = values.min(), values.max()
        axes[0].hist(values, bins=np.geomspace(low, max(high, 1.01 * low), 31), histtype="step")
    axes[0].set(xscale="log", xlabel=f"cluster {'energy' if in_kev else 'charge'} ({unit})", ylabel="clusters",
                title=f"spectrum ({values.size} clusters with charge > 0)")
    if in_kev:
        axes[1].hist(values, bins=np.arange(0.0, 10.05, 0.1), histtype="step")
        for line in (5.9, 6.49, 8.04):
            axes[1].axvline(line, color="grey", linestyle=":", linewidth=0.8)
        axes[1].set(xlabel="cluster energy (keV)", ylabel="clusters per 0.1 keV",
                    title="0 to 10 keV (dotted: 5.9, 6.5, 8.0 keV lines)")
    if sizes.size:
        axes[-1].hist(sizes, bins=np.unique(np.geomspace(1, sizes.max() + 1, 31).astype(int)), histtype="step")
    axes[-1].set(xscale="log", yscale="log", xlabel="cluster size (pixels)", ylabel="clusters",
                 title=f"cluster sizes ({sizes.size} clusters)")
    try:
        return write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"), force=True)
    finally:
        plt.close(fig)
