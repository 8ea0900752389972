"""The benchmark's report: its tables in Markdown, ready for the README, and its headline lines."""
from __future__ import annotations

import numpy as np

from ccdseg.core.classes import CLASS_NAMES

# %% Defaults
FRAME_SIZE_PX = 256
HEADLINE_CHARGES_ADU = (300, 500, 800)
# the original's published scores: 42 test frames of its own simulator, its labels from its threshold rule
ORIGINAL_TABLE = {
    "background": (1.00, 0.99, 1.00, 2535931),
    "glowing": (1.00, 1.00, 1.00, 187442),
    "hot pixel": (0.99, 0.98, 0.95, 10594),
    "cluster": (0.44, 0.63, 0.52, 18545),
}


# %% Functions
def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _charge(value, how: str) -> str:
    if value is None:
        return "not reached"
    return f"<= {value:,.0f}" if how.startswith("below") else f"{value:,.0f}"


def headline(report: dict) -> list[str]:
    """The few numbers a newcomer asks for first, one per line."""
    lines = []
    for name, scores in report["quality"]["methods"].items():
        summary = report["clusters"]["methods"][name]
        injected = report.get("injection", {}).get(name)
        injection = ""
        if injected:
            cells = ", ".join(f"{e:.2f} at {q:g}" for q, e in zip(injected["charges_adu"], injected["efficiency"])
                              if q in HEADLINE_CHARGES_ADU)
            injection = f"; injected: {cells} ADU, {injected['fakes_per_frame']:.2f} fakes per blank frame"
        lines.append(
            f"{name}: cluster F1 {scores['all']['cluster']['f1']:.3f}, 90 % efficiency above "
            f"{_charge(summary['efficiency_90_adu'], summary['efficiency_90_how'])} ADU, "
            f"{summary['fake_per_frame']:.2f} fake clusters per frame{injection}"
        )
    speed = report["speed"]
    lines.append(f"labelling speedup (get_mask vs per-pixel loop): {speed['labelling']['labelling_speedup']:,.0f} x")
    if speed.get("inference"):
        inference = speed["inference"]
        lines.append(
            f"inference: {inference['pipeline_mp_per_s']:.2f} MP/s on {inference['frame_px'][0]} x "
            f"{inference['frame_px'][1]}, peak RSS {inference['peak_rss_mib']:,.0f} MiB"
        )
        fits_run = inference.get("fits_pipeline")
        if fits_run:
            lines.append(f"load_model.py --fits: {fits_run['mp_per_s']:.2f} MP/s per frame, "
                         f"{fits_run['over_bare']:.2f} x the bare Keras model, "
                         f"command peak RSS {_mib(fits_run['command_peak_rss_mib'])}")
    ccd_file = speed.get("ccd_file")
    if ccd_file:
        lines.append(f"a whole DAMIC-M CCD's file: {ccd_file['mp_per_s']:.2f} MP/s, "
                     f"{ccd_file['over_bare']:.2f} x the bare Keras model")
    return lines


def pixel_section(quality: dict) -> list[str]:
    """Pixel scores per method and class, cluster F1 per test set, the original's table."""
    sets = quality["test_sets"]
    set_text = " + ".join(f"{s['frames']} `{layout}`" for layout, s in sets.items() if not s.get("held_out"))
    out: list[str] = []
    out += [
        "",
        f"## Pixel scores ({set_text} simulated {FRAME_SIZE_PX} x {FRAME_SIZE_PX} frames, exact truth)",
        "",
        "| method | class | precision | recall | F1 | IoU | support |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, scores in quality["methods"].items():
        for cname in CLASS_NAMES:
            s = scores["all"][cname]
            out.append(
                f"| {name} | {cname} | {_fmt(s['precision'])} | {_fmt(s['recall'])} | {_fmt(s['f1'])} "
                f"| {_fmt(s['iou'])} | {_fmt(s['support'])} |"
            )
    out += ["", "Cluster F1 by test set (`all`: our two layouts):", "", "| method | " + " | ".join(list(sets) + ["all"]) + " |"]
    out.append("|---" * (len(sets) + 2) + "|")
    for name, scores in quality["methods"].items():
        out.append(f"| {name} | " + " | ".join(_fmt(scores[k]["cluster"]["f1"]) for k in list(sets) + ["all"]) + " |")
    out += [
        "",
        "The original's published table (42 frames of its own simulator; its labels came from its threshold rule):",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {c} | {p:.2f} | {r:.2f} | {f:.2f} | {n:,} |" for c, (p, r, f, n) in ORIGINAL_TABLE.items()]
    return out


def cluster_section(clusters: dict) -> list[str]:
    """Clusters as objects: efficiency, fakes, charge error, efficiency by charge."""
    out: list[str] = []
    out += [
        "",
        "## Clusters as objects (8-connected components, per frame)",
        "",
        "| method | true clusters | found | efficiency | 90 % efficiency above (ADU) | fake clusters / frame "
        "| charge error median [16 %, 84 %] |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in clusters["methods"].items():
        error = s["charge_error"]
        spread = "-" if error["median"] is None else f"{error['median']:+.3f} [{error['p16']:+.3f}, {error['p84']:+.3f}]"
        out.append(
            f"| {name} | {s['true_clusters']:,} | {s['found']:,} | {_fmt(s['efficiency'])} "
            f"| {_charge(s['efficiency_90_adu'], s['efficiency_90_how'])} | {s['fake_per_frame']:.2f} | {spread} |"
        )
    names = list(clusters["methods"])
    out += [
        "",
        "Detection efficiency by deposited charge (charge error = reconstructed / deposited - 1, "
        "reconstructed = pedestal-subtracted ADU summed over the overlapping predicted components):",
        "",
        "| deposited charge (ADU) | true clusters | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    first = clusters["methods"][names[0]]["bins"]
    for b, row in enumerate(first):
        if row["true"]:
            cells = [_fmt(clusters["methods"][n]["bins"][b]["efficiency"], 2) for n in names]
            out.append(f"| {row['low_adu']:,.0f} - {row['high_adu']:,.0f} | {row['true']} | " + " | ".join(cells) + " |")
    out += ["", "![cluster detection efficiency](cluster_efficiency.png)"]
    return out


def speed_section(speed: dict) -> list[str]:
    """The speed table."""
    out: list[str] = []
    out += ["", "## Speed", "", "| measure | value |", "|---|---|"]
    labelling = speed["labelling"]
    out += [
        f"| threshold labelling, per-pixel loop | {labelling['loop_s_per_frame'] * 1e3:,.1f} ms per frame |",
        f"| threshold labelling, `get_mask` | {labelling['vectorised_s_per_frame'] * 1e3:,.2f} ms per frame |",
        f"| labelling speedup | {labelling['labelling_speedup']:,.0f} x |",
        f"| simulation | {speed['simulation']['frames_per_s']:,.1f} frames/s ({FRAME_SIZE_PX} x {FRAME_SIZE_PX}) |",
    ]
    ccd = speed.get("ccd_simulation")
    if ccd:
        out.append(f"| simulation of a whole DAMIC-M CCD ({ccd['shape_px'][0]} x {ccd['shape_px'][1]} px) |"
                   f" {ccd['seconds']:.1f} s, peak {ccd['peak_rss_mib'] or 0:,.0f} MiB (targets: 10 s, 2 GB) |")
    for preset, t in speed["training"].items():
        out.append(
            f"| training `{preset}` preset | {t['s_per_step']:.2f} s a step, {t['s_per_epoch']:,.0f} s an epoch,"
            f" {t['s_per_1000_frames']:,.0f} s per 1,000 frames of {FRAME_SIZE_PX} x {FRAME_SIZE_PX}"
            f" (batches of {' x '.join(map(str, t['batch']))}, {t['parameters']:,} parameters)"
            + (f"; {t['s_per_small_step']:.2f} s a step of small crops" if t.get("s_per_small_step") else "")
            + (f"; the whole fit {t['s_per_fit'] / 60:.1f} min, validation not counted" if "s_per_fit" in t else "")
            + " |"
        )
    inference = speed.get("inference")
    if inference:
        h, w = inference["frame_px"]
        out += [
            f"| inference, tiled pipeline, {h} x {w} frame | {inference['pipeline_mp_per_s']:.2f} MP/s "
            f"({inference['pipeline_s']:.1f} s; first call, building the graph: {inference['pipeline_first_call_s']:.1f} s) |",
            f"| peak RSS during it | {inference['peak_rss_mib']:,.0f} MiB (before: {inference['rss_before_mib']:,.0f} MiB) |",
            f"| bare model, {inference['bare_tiles']} x {inference['bare_tile_px']} px tiles "
            f"| {inference['bare_mp_per_s']:.2f} MP/s |",
            f"| tiled pipeline / bare model | {inference['pipeline_over_bare']:.2f} |",
        ]
        for name, r in inference.get("runtimes", {}).items():
            out.append(f"| tiled pipeline run by {name} | {r['mp_per_s']:.2f} MP/s ({r['over_keras']:.2f} x Keras; "
                       f"class maps agree on {100 * r['agreement']:.4f} % of pixels) |")
        fits_run = inference.get("fits_pipeline")
        if fits_run:
            out += [
                f"| `load_model.py --fits` per frame in a run of {fits_run['frames']} ({fits_run['runtime']} "
                f"{fits_run['precision']}: read, segment, write map, overview and catalogue) | "
                f"{fits_run['mp_per_s']:.2f} MP/s ({fits_run['seconds']:.1f} s; "
                f"{fits_run['over_bare']:.2f} x the bare Keras model; class maps agree with Keras float32 on "
                f"{100 * fits_run['agreement']:.4f} % of pixels) |",
                f"| the same command on those {fits_run['command_frames']} frames, start-up included | "
                f"{fits_run['command_s']:.1f} s, peak RSS {_mib(fits_run['command_peak_rss_mib'])} |",
            ]
    else:
        out.append(f"| inference | {speed.get('inference_skipped', 'not measured')} |")
    out += _ccd_file_rows(speed.get("ccd_file"))
    return out


def _ccd_file_rows(ccd_file: dict | None) -> list[str]:
    """The speed table's rows of a whole DAMIC-M CCD's file (`speed_commands.measure_ccd_file`); none when not measured."""
    if not ccd_file:
        return []
    h, w = ccd_file["shape_px"]
    out = [f"| `load_model.py --fits` on a whole DAMIC-M CCD's file ({ccd_file['amplifiers']} amplifiers of"
           f" {h} x {w} px; read, segment, write) | {ccd_file['mp_per_s']:.2f} MP/s ({ccd_file['seconds']:.1f} s;"
           f" {ccd_file['over_bare']:.2f} x the bare Keras model `{ccd_file['model']}`, which ran at"
           f" {ccd_file['bare_mp_per_s']:.2f} MP/s on {ccd_file['bare_tiles']} tiles of {ccd_file['bare_tile_px']} px;"
           f" target {ccd_file['target_over_bare']} x) |"]
    budget = ccd_file.get("cpu_budget")
    if budget:
        out.append(f"| the same file's CPU time (all threads) | {budget['run_cpu_s']:.1f} s, of which the network as"
                   f" the command runs it {budget['network_cpu_s']:.1f} s ({budget['network_s']:.1f} s wall) and the"
                   f" calibration {budget['calibration_cpu_s']:.1f} s; {ccd_file['target_over_bare']} x the bare model"
                   f" would leave {budget['at_target_cpu_s']:.1f} CPU s on this machine's {budget['cores']} cores |")
    return out


def population_section(quality: dict) -> list[str]:
    """Cluster F1 (pixels), clusters found and fakes per frame on every test set, held-out ones marked."""
    sets = quality["test_sets"]
    names = [f"{k} (held out)" if s.get("held_out") else k for k, s in sets.items()]
    out = [
        "",
        "## Every test set, our layouts and the held-out populations",
        "",
        "Cluster F1 of pixels / share of true clusters found / fake clusters per frame, and the time each"
        " method took per 256 x 256 frame (this machine, same run):",
        "",
        "| method | " + " | ".join(names) + " | ms per frame |",
        "|---" * (len(sets) + 2) + "|",
    ]
    for method, scores in quality["methods"].items():
        cells = []
        for key in sets:
            objects = quality["objects"][method][key]
            cells.append(f"{scores[key]['cluster']['f1']:.3f} / {objects['recall']:.3f} / {objects['fakes_per_frame']:.2f}")
        per_frame = quality.get("seconds_per_frame", {}).get(method)
        out.append(f"| {method} | " + " | ".join(cells) + f" | {_fmt(None if per_frame is None else 1e3 * per_frame, 1)} |")
    tuning = quality.get("tuning", {})
    if tuning:
        out += ["", "Classical finders, parameters tuned on validation frames (object F1 there):", ""]
        out += [f"- {name}: {t['parameters']} ({t['validation']['f1']:.3f})" for name, t in tuning.items()]
    return out


def injection_section(injection: dict) -> list[str]:
    """Efficiency against injected charge and fakes per blank frame, per method."""
    if not injection:
        return []
    first = next(iter(injection.values()))
    return [
        "",
        "## Injection: point deposits of known charge in blank frames",
        "",
        f"{first['injected'][0]} deposits per charge (2-D Gaussians of diffusion sigma "
        f"{first['sigma_px'][0]:g} to {first['sigma_px'][1]:g} px), found when a predicted cluster pixel lies "
        f"within {first['radius_px']:g} px of the centre; fakes counted on {first['blank_frames']} blank frames.",
        "",
        markdown_table(injection),
        "",
        "![efficiency against injected charge](injection_efficiency.png)",
    ]


def _mib(value: float | None) -> str:
    """A memory figure in MiB, or why there is none."""
    return "not measured (no /proc)" if value is None else f"{value:,.0f} MiB"


def skipper_section(skipper: dict | None) -> list[str]:
    """The skipper-frame table: each method's figures on DAMIC-M amplifier frames against the targets of issue 19."""
    if not skipper:
        return []
    rows, cols = skipper["shape_px"]
    out = ["", f"## Skipper-CCD amplifier frames ({skipper['frames']} frames of {rows} x {cols} px over the DAMIC-M range,"
           f" {skipper['dark_frames']} more at {skipper['dark_current_electrons']:g} e/px of dark current)", "",
           "| method | 5.9 keV found | 5.9 keV with a hot pixel | 5.9 keV line (keV) | track pixels cluster (>= 4 e) |"
           " track pixels glowing/hot | fakes / frame | fakes / frame at 2 e/px | glowing F1 | hot pixel F1 |"
           " particles found | s / frame |",
           "|---" * 12 + "|"]
    for name, s in skipper["methods"].items():
        out.append(f"| {name} | {s['line_found']:.4f} | {s['line_with_hot_pixel']:.4f} | {s['line_kev']:.3f} |"
                   f" {s['track_cluster']:.4f} ± {s.get('track_cluster_error', float('nan')):.4f}"
                   f" ({s['track_cluster_visible']:.4f}) | {s['track_glowing_or_hot']:.4f} |"
                   f" {s['fakes_per_frame']:.2f} | {s['fakes_per_frame_dark']:.2f} | {s['glowing_f1']:.3f} |"
                   f" {s['hot_pixel_f1']:.3f} | {s['deposits_found']:,} of {s['deposits']:,} | {s['seconds_per_frame']:.2f} |")
    out += ["", "Targets: 5.9 keV found >= 0.995 and never hot, line within 2 % of 5.9 keV, track pixels >= 0.99 cluster"
            " and <= 0.005 glowing or hot, <= 0.3 fakes per frame at up to 2 e/px, glowing and hot-pixel F1 >= 0.95,"
            " particles found >= the reference reconstruction's at no more fakes. Track pixels: every pixel holding one"
            " of the track's electrons (± its standard error over the frames), and (in brackets) those holding 4 or more."]
    return out + reconstruction_section(skipper) + beyond_range_section(skipper.get("beyond_range"))


def reconstruction_section(skipper: dict) -> list[str]:
    """Each method judged as a real frame is: against the experiment's reconstruction with its own settings."""
    judged = {name: s["against_reconstruction"] for name, s in skipper["methods"].items() if "against_reconstruction" in s}
    if not judged:
        return []
    out = ["", "Judged as a real frame is, against the experiment's reconstruction with its own settings (seed 15 sigma"
           " and 30 eV) on the same frames; a cluster touches the reconstruction when it overlaps its cluster mask (1"
           " column before and 5 after each cluster); those touching none are real deposits the reconstruction"
           " missed, or fakes:", "",
           "| method | reconstruction's clusters with any pixel cluster | with most pixels cluster | their pixels"
           " cluster | their pixels glowing/hot | method's clusters touching none / frame | of which on a deposit |",
           "|---" * 7 + "|"]
    for name, s in judged.items():
        out.append(f"| {name} | {s['any_pixel_cluster']:.4f} | {s['most_pixels_cluster']:.4f} | {s['pixels_cluster']:.4f} |"
                   f" {s['pixels_glowing_or_hot']:.4f} | {s['untouched_per_frame']:.2f} |"
                   f" {s['untouched_on_deposit_per_frame']:.2f} |")
    return out


def beyond_range_section(beyond: dict | None) -> list[str]:
    """The table of skipper frames beyond the trained range: frames recognised, and each method's main figures."""
    if not beyond:
        return []
    out = ["", f"Beyond the range the skipper model was trained on ({beyond['frames']} frames a case, the DAMIC-M range"
           " with one figure moved, or stored as a tile-compressed file quantises it; recognised: single electrons found"
           " resolved, so the frame gets the skipper model):", "",
           "| case | recognised | method | 5.9 keV found | 5.9 keV with a hot pixel | track pixels cluster |"
           " track pixels glowing/hot | fakes / frame | glowing F1 | hot pixel F1 |",
           "|---" * 10 + "|"]
    for case, result in beyond["cases"].items():
        for name, s in result["methods"].items():
            out.append(f"| {case} | {result['recognised']} of {beyond['frames']} | {name} | {s['line_found']:.4f} |"
                       f" {s['line_with_hot_pixel']:.4f} | {s['track_cluster']:.4f} | {s['track_glowing_or_hot']:.4f} |"
                       f" {s['fakes_per_frame']:.2f} | {s['glowing_f1']:.3f} | {s['hot_pixel_f1']:.3f} |")
    return out


def markdown_report(report: dict) -> str:
    """The report's tables in Markdown, ready to paste into the README."""
    machine = report["machine"]
    out = [
        "# Benchmark",
        "",
        f"{report['date']}, {machine['description']} ({machine['cpu']}), "
        f"{'quick run' if report['settings']['quick'] else 'full run'}.",
        "",
    ]
    out += [f"- {line}" for line in report["notes"]]
    out.append("- settings: " + ", ".join(f"{k} {v}" for k, v in report["settings"].items()))
    out += pixel_section(report["quality"]) + population_section(report["quality"])
    out += injection_section(report.get("injection", {})) + cluster_section(report["clusters"])
    out += skipper_section(report.get("skipper"))
    out += speed_section(report["speed"])
    out += ["", "## Headline", ""] + [f"- {line}" for line in headline(report)]
    return "\n".join(out) + "\n"


def markdown_table(results: dict[str, dict]) -> str:
    """Markdown table, one row per method: efficiency per injected charge, fakes per blank frame."""
    if not results:
        return ""
    charges = next(iter(results.values()))["charges_adu"]
    header = "| method | " + " | ".join(f"{q:g} ADU" for q in charges) + " | fakes / blank frame |"
    lines = [header, "|---" * (len(charges) + 2) + "|"]
    for method, result in results.items():
        cells = " | ".join(f"{e:.2f}" for e in result["efficiency"])
        lines.append(f"| {method} | {cells} | {result['fakes_per_frame']:.2f} |")
    return "\n".join(lines)
