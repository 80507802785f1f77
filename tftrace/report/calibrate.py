"""Wording of ``tftrace calibrate``: the measured spread per name and the tolerances."""

from __future__ import annotations

from tftrace.compare.calibrate import ILL_CONDITIONED, Calibration


def render_calibration(calibration: Calibration, output: str) -> str:
    """The text report of a calibration written to ``output``."""
    lines = [f"tftrace calibrate: {len(calibration.runs)} runs, reference {calibration.runs[0]}",
             f"  limit per name = max({calibration.norm_floor:g}, {calibration.safety_factor:g} x "
             f"largest norm-relative spread), judged by ||B - A|| / ||A||"]
    if calibration.bit_equal:
        lines.append(f"  the runs are bit-equal: no spread to calibrate from; every limit is the "
                     f"floor ({calibration.norm_floor:g}). Add a run that differs by round-off "
                     f"(initial weights moved by one ULP, other thread settings, another "
                     f"machine) to find the names that amplify it.")
    name_width = max([4] + [len(s.name) for s in calibration.spreads])
    lines.append("")
    lines.append(f"  {'name':<{name_width}}  {'max abs':>10}  {'norm-rel':>10}  {'1 - cos':>10}  "
                 f"{'limit':>10}")
    for spread in sorted(calibration.spreads, key=lambda s: -s.norm_relative):
        limit = spread.limit(calibration.safety_factor, calibration.norm_floor)
        flag = "  ill-conditioned" if spread.norm_relative > ILL_CONDITIONED else ""
        lines.append(f"  {spread.name:<{name_width}}  {spread.max_abs:>10.3g}  "
                     f"{spread.norm_relative:>10.3g}  {spread.cosine_distance:>10.3g}  "
                     f"{limit:>10.3g}{flag}")
    if calibration.ill_conditioned:
        lines.append("")
        lines.append(f"  ill-conditioned: round-off alone moves {len(calibration.ill_conditioned)} "
                     f"name(s) by more than {ILL_CONDITIONED:g} of their norm; their limits are "
                     f"loose, so a fault shows up in the other names first.")
    if calibration.not_compared:
        lines.append(f"  not compared (missing, other shape or dtype, or values not stored in a "
                     f"run; default tolerance): {', '.join(calibration.not_compared)}")
    lines.append(f"  wrote {output}: use it with tftrace diff A B --tolerances {output}")
    return "\n".join(lines) + "\n"
