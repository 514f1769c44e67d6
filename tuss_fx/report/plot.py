"""The report's picture, drawn with matplotlib (an optional extra, imported only here)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from tuss_fx.measure.meters import SpectrogramStrip

# one colour per stem name in every report; other names take the spare ones in turn
STEM_COLOURS = {"speech": "tab:orange", "sfxbg": "tab:green", "musicbg": "tab:purple", "residual": "tab:red",
                "vocals": "tab:orange", "drums": "tab:brown", "bass": "tab:olive", "other": "tab:pink"}
SPARE_COLOURS = ("tab:cyan", "tab:gray", "gold", "navy", "teal", "crimson")
LOUDNESS_FLOOR_LUFS = -60.0


def render(numbers: dict, strips: dict[str, SpectrogramStrip], suffix: str) -> bytes:
    """PNG bytes, or a self-contained HTML page (the PNG inline and a table of the numbers)."""
    png = _png(numbers, strips)
    if suffix == ".png":
        return png
    title = html.escape(numbers["title"])
    picture = base64.b64encode(png).decode()
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head><body>\n"
            f"<h1>{title}</h1>\n{_plan_line(numbers)}"
            f"<img alt='loudness and spectrograms' src='data:image/png;base64,{picture}'>\n"
            f"{_table(numbers)}\n</body></html>\n").encode()


def _plan_line(numbers: dict) -> str:
    """The remix plan that ran and why, as a paragraph (empty for a separation)."""
    plan = numbers.get("plan")
    return f"<p>{html.escape(plan['name'])} plan: {html.escape(plan['reason'])}</p>\n" if plan else ""


def _rows(numbers: dict) -> list[tuple[str, dict]]:
    signals = numbers["signals"]
    rows = [("input", signals["input"])]
    if "output" in signals:
        rows.append(("output", signals["output"]))
    for name, states in signals["stems"].items():
        for state, signal in states.items():
            rows.append((f"{name} ({_state_label(state)})", signal))
    return rows


STATE_LABELS = {"before": "as separated", "after": "after chain and gain", "written": "as written"}


def _state_label(state: str) -> str:
    return STATE_LABELS[state]


def _number(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.1f} {unit}"


def _table(numbers: dict) -> str:
    cells = "".join(f"<tr><td>{html.escape(name)}</td><td>{_number(s['integrated_lufs'], 'LUFS')}</td>"
                    f"<td>{_number(s.get('loudness_range_lu'), 'LU')}</td>"
                    f"<td>{_number(s['true_peak_dbtp'], 'dBTP')}</td></tr>\n" for name, s in _rows(numbers))
    return ("<table border='1' cellpadding='4'><tr><th>signal</th><th>integrated loudness</th>"
            f"<th>loudness range</th><th>true peak</th></tr>\n{cells}</table>")


def _png(numbers: dict, strips: dict[str, SpectrogramStrip]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    lanes = 3 if "dialogue_to_background" in numbers else 2
    figure, axes = plt.subplots(lanes + len(strips), 1, figsize=(14, 4 + 2.2 * (lanes + len(strips))), sharex=True,
                                gridspec_kw={"height_ratios": [3] * lanes + [2] * len(strips)})
    duration = numbers["duration_seconds"]
    _loudness_axes(axes[0], numbers)
    _stem_axes(axes[1], numbers)
    if lanes == 3:
        _clarity_axes(axes[2], numbers)
    for ax, (label, strip) in zip(axes[lanes:], strips.items()):
        _spectrogram_axes(ax, label, strip, duration)
    start = numbers.get("start_timecode", "00:00:00.000")
    axes[-1].set_xlabel("programme time (s)" + ("" if start.startswith("00:00:00") else f" from {start}"))
    axes[-1].set_xlim(0, duration)
    figure.suptitle(numbers["title"])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _times(numbers: dict, count: int) -> np.ndarray:
    return (np.arange(count) + 1) * numbers["hop_seconds"]


def _values(curve: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else max(v, LOUDNESS_FLOOR_LUFS) for v in curve], dtype=float)


def _loudness_axes(ax, numbers: dict) -> None:
    signals = numbers["signals"]
    gate = numbers.get("dialogue_gate")
    if gate:
        for number, (start, end) in enumerate(gate["regions_seconds"]):
            ax.axvspan(start, end, color="tab:green", alpha=0.08, lw=0,
                       label=f"dialogue gate ({gate['stem']} stem, {gate['share']:.0%} of the programme)"
                       if number == 0 else None)
    for name, colour in (("input", "0.55"), ("output", "tab:blue")):
        if name in signals:
            signal = signals[name]
            curve = _values(signal["short_term_lufs"])
            gated = gate and gate.get(f"{name}_lufs")
            ax.plot(_times(numbers, len(curve)), curve, color=colour, lw=1.4,
                    label=f"{name}: {_number(signal['integrated_lufs'], 'LUFS')} integrated"
                          + (f", {_number(gated, 'LUFS')} dialogue-gated" if gated else "")
                          + f", LRA {_number(signal.get('loudness_range_lu'), 'LU')}, "
                          f"{_number(signal['true_peak_dbtp'], 'dBTP')} true peak")
    if numbers["target_lufs"] is not None:
        ax.axhline(numbers["target_lufs"], color="tab:red", ls="--", lw=1,
                   label=f"target {numbers['target_lufs']:g} LUFS")
    ax.set_ylabel("short-term loudness\n(LUFS, 3 s)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)


def _stem_axes(ax, numbers: dict) -> None:
    spare = iter(SPARE_COLOURS * 8)
    for name, states in numbers["signals"]["stems"].items():
        colour = STEM_COLOURS.get(name.split("_")[0]) or next(spare)
        for state, signal in states.items():
            curve = _values(signal["momentary_lufs"])
            dashed = state == "before" and len(states) > 1
            ax.plot(_times(numbers, len(curve)), curve, color=colour, lw=0.8 if dashed else 1.2,
                    ls="--" if dashed else "-", alpha=0.7 if dashed else 1.0,
                    label=f"{name} {_state_label(state)}: {_number(signal['integrated_lufs'], 'LUFS')}, "
                          f"{_number(signal['true_peak_dbtp'], 'dBTP')}")
    ax.set_ylabel("stem momentary loudness\n(LUFS, 0.4 s)")
    ax.legend(loc="lower right", fontsize=7, ncol=2)
    ax.grid(alpha=0.3)


def _clarity_axes(ax, numbers: dict) -> None:
    """The dialogue-to-background ratio of the input over the dialogue, buried stretches shaded, and
    the ride where one ran (on the right-hand axis)."""
    clarity = numbers["dialogue_to_background"]
    ends = np.array(clarity["window_end_seconds"])
    dbr = np.array([np.nan if v is None else v for v in clarity["dbr_lu"]], dtype=float)
    speaking = np.array(clarity["dialogue"], dtype=bool)
    for number, region in enumerate(clarity["worst_regions"]):
        ax.axvspan(region["start_seconds"], region["end_seconds"], color="tab:red", alpha=0.12, lw=0,
                   label="buried (worst stretches)" if number == 0 else None)
    ax.plot(ends, np.where(speaking, dbr, np.nan), color="tab:purple", lw=1.2,
            label=f"input DBR over the dialogue: median {_number(clarity['median_dbr_lu'], 'LU')}, "
                  f"{clarity['buried_share']:.0%} under {clarity['threshold_lu']:g} LU")
    if "dbr_after_lu" in clarity:
        after = np.array([np.nan if v is None else v for v in clarity["dbr_after_lu"]], dtype=float)
        count = min(len(after), len(ends))
        ax.plot(ends[:count], np.where(speaking[:count], after[:count], np.nan), color="tab:green", lw=1.2,
                label=f"remix DBR over the dialogue: median {_number(clarity['after']['median_dbr_lu'], 'LU')}, "
                      f"{clarity['after']['buried_share']:.0%} under {clarity['threshold_lu']:g} LU")
    ax.axhline(clarity["threshold_lu"], color="tab:red", ls="--", lw=1, label=f"threshold {clarity['threshold_lu']:g} LU")
    ax.set_ylabel("dialogue to background\n(LU, 0.4 s)")
    ax.grid(alpha=0.3)
    lanes = [("ride_db" in clarity, "ride (dB)")] + [(True, "replacement gain (dB)") for _ in numbers.get("replacements", ())]
    if any(shown for shown, _ in lanes):
        twin = ax.twinx()
        if "ride_db" in clarity:
            ride = np.array([np.nan if v is None else v for v in clarity["ride_db"]], dtype=float)
            twin.plot(np.arange(len(ride)) * numbers["hop_seconds"], ride, color="tab:orange", lw=1.2,
                      label="background ride (dB)")
        for replaced in numbers.get("replacements", ()):  # the line-by-line gain a replaced stem was given
            curve = replaced["curve"]
            seconds = [0.0, *curve["seconds"], numbers["duration_seconds"]]
            gains = [curve["gain_db"][0], *curve["gain_db"], curve["gain_db"][-1]]
            twin.plot(seconds, gains, color="tab:cyan", lw=1.2, drawstyle="default",
                      label=f"{replaced['stem']} replaced ({replaced['match']}): gain (dB)")
        twin.set_ylabel(" / ".join(label for shown, label in lanes if shown)[:40])
        twin.legend(loc="lower left", fontsize=8)
    ax.legend(loc="lower right", fontsize=8)


def _spectrogram_axes(ax, label: str, strip: SpectrogramStrip, duration: float) -> None:
    centres = (np.arange(strip.num_columns) + 0.5) * duration / strip.num_columns
    image = ax.pcolormesh(centres, strip.frequencies_hz, strip.db(), shading="nearest", cmap="magma",
                          vmin=-100, vmax=-10, rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(40, strip.sample_rate / 2)
    ax.set_ylabel(f"{label}\n(Hz)")
    # the colour bar sits outside the axes, so every row keeps the same time axis width
    ax.figure.colorbar(image, cax=ax.inset_axes([1.005, 0.0, 0.008, 1.0]), label="dB")
