"""The `parascale` command line.

    parascale transfer REF --ref-depth D --target-depth D [--start POSE] [--mode M] [--preset P | --format F] -o OUT
                       [--timing fit|speed] [--model-size WxH] [--json]
    parascale measure CANDIDATE --depth D --reference REF --ref-depth D [--json]
    parascale convert IN OUT [--format F | --preset P] [--timing fit|speed] [--model-size WxH]
    parascale batch IN_DIR|MANIFEST OUT_DIR [--ref-depth D --target-depth D] [--engine local|ray] [--jobs N]
                    [--ray-address A] [--shard I/N] [--force] [--preset P | --format F] [--timing fit|speed]
                    [--model-size WxH]
    parascale formats

Bad input prints one line `parascale: error: <file>:<line or key>: <what>` on stderr and exits with 2,
without a traceback and without writing anything (outputs are written atomically, after every check).
A batch exits with 1 when any clip failed (each failure is listed), 0 when all succeeded (or were skipped
as unchanged), 130 when interrupted (the finished clips are kept; the same command resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import NoReturn

import numpy as np

from .batch import (
    BatchInterrupted,
    TransferOptions,
    all_mode_summaries,
    calibrate,
    default_jobs,
    depth_source,
    input_files,
    option_inputs,
    parse_intrinsics,
    run_batch,
)
from .engines import ENGINES
from .errors import ParaScaleError, one_line, short_path
from .fileio import atomic_write_files
from .formats import (
    DEFAULT_TIMING,
    TIMINGS,
    ExportPlan,
    export_plan,
    format_for_output,
    formats_table,
    read_trajectory,
    render_trajectory,
    resolve_format,
)
from .formats.common import json_ready
from .formats.contracts import parse_model_size
from .manifest import parse_shard
from .metrics import parallax_consistency
from .parallax import check_strength, normalize_mode, trajectory_parallax
from .poses import Trajectory, float32_precision_warning
from .solve_check import suspect_frames
from .statistics import DEFAULT_STATISTIC, STATISTICS

EXIT_OK = 0
EXIT_FAILED_CLIPS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"parascale: error: {message} (see `{self.prog} --help`)\n")


def _depth_help(role: str) -> str:
    if role == "reference":
        return ("reference scene depth: a number, per-frame depths (.txt or .npy, one value per frame), a point "
                "cloud (.ply/.npy/.xyz/points3D.txt), a folder of per-frame depth maps (.npy, median per "
                "frame), or a first-frame depth map .npy with --ref-intrinsics")
    return ("target scene depth: a number, a point cloud (.ply/.npy/.xyz/points3D.txt), or a first-frame "
            "depth map .npy (H, W) with --target-intrinsics (unprojected through the start pose)")


def _add_statistic(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--statistic", default=DEFAULT_STATISTIC, choices=STATISTICS,
                        help="how many depths (depth maps, point clouds) become one per frame, the same on both "
                        "sides: 'median' (default) or 'smooth' (a smoothly weighted log-mean over the central "
                        "quantile band: no jump where an occlusion edge crosses the median; docs/method.md)")


def _add_output_choice(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", help="consumer preset (format + frame count), see `parascale formats`")
    group.add_argument("--format", help="output format, see `parascale formats`")
    parser.add_argument("--frames", type=int, help="resample the output to this many frames")


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    """How a preset's file is made (transfer, convert and batch): timing and the model frame."""
    parser.add_argument("--timing", default=DEFAULT_TIMING, choices=TIMINGS,
                        help="when the preset changes the frame count: 'fit' (default) fits the whole move into "
                        "the model's clip (Pi_total kept, Pi per output frame scaled by the frame ratio); 'speed' "
                        "keeps one source frame per output frame (per-frame Pi kept; the model shows part of "
                        "the move, or the last pose is held)")
    parser.add_argument("--model-size", type=_model_size, metavar="WxH",
                        help="the model frame the intrinsics are written for (default: the preset's, in the "
                        "render's orientation, e.g. Wan 832x480 or 480x832)")


def _model_size(text: str) -> tuple[int, int]:
    try:
        return parse_model_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def export_summary(source: Trajectory, plan: ExportPlan, pi_per_frame: np.ndarray | None = None) -> str:
    """One line about the written file: frames, fps, timing, model frame and, for a transfer, the Pi per
    output frame that results (fit: scaled by the frame ratio; speed: the source's, on the frames shown)."""
    line = f"output: {plan.describe(len(source))}"
    if pi_per_frame is None or plan.times is None:
        return line
    steps = np.asarray(pi_per_frame, dtype=np.float64)
    if plan.timing == "fit":
        per_output = float(np.nansum(steps)) / (plan.count - 1)
        return line + f"; Pi per output frame {per_output:.4g} on average (Pi_total {np.nansum(steps):.4g} kept)"
    shown = steps[: max(plan.count - 1, 0)]
    return line + (f"; Pi per output frame kept ({np.nanmean(shown):.4g} on average), Pi_total shown "
                   f"{np.nansum(shown):.4g} of {np.nansum(steps):.4g}")


def pi_per_output_frame(source: Trajectory, plan: ExportPlan, pi_per_frame: np.ndarray) -> np.ndarray:
    """Pi between consecutive written frames: the source's cumulative Pi (linear within a source step) at
    the plan's source times, differenced (fit: each step scaled by the frame ratio; speed: the source's
    steps, 0 where the last pose is held)."""
    steps = np.nan_to_num(np.asarray(pi_per_frame, dtype=np.float64))
    if plan.times is None:
        return steps
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    return np.diff(np.interp(plan.times, source.frames, cumulative))


def export_record(source: Trajectory, plan: ExportPlan, format_name: str, written: list, pi_per_frame: np.ndarray,
                  warnings_: list[str]) -> dict:
    """The export summary of `transfer --json`: what was written and how, and what the consumer loses."""
    per_output = pi_per_output_frame(source, plan, pi_per_frame)
    return {"format": format_name, "preset": plan.preset, "files": [str(p) for p in written],
            "source_frames": len(source), "frames_written": plan.count, "fps": plan.fps, "timing": plan.timing,
            "source_frames_per_output_frame": plan.frame_ratio,
            "model_size": list(plan.model_size) if plan.model_size else None,
            "pi_per_output_frame": per_output.tolist(), "pi_total_written": float(per_output.sum()),
            "warnings": warnings_}


def _add_transfer_options(parser: argparse.ArgumentParser, batch: bool = False) -> None:
    per_clip = (" In a batch: the default for every clip (a manifest's column overrides it); '{stem}' names "
                "a file per clip, relative to the clip's folder (e.g. '{stem}.depth.npy').") if batch else ""
    parser.add_argument("--ref-depth", required=not batch, help=_depth_help("reference") + per_clip)
    parser.add_argument("--target-depth", required=not batch, help=_depth_help("target") + per_clip)
    parser.add_argument("--start", help="target start pose: x,y,z | x,y,z,rx,ry,rz (Blender XYZ Euler, degrees) "
                        "| a pose file (its first frame); default: the reference's first pose")
    parser.add_argument("--reference-subject", metavar="X,Y,Z",
                        help="keep the subject framed: the reference's subject point (its world position); each "
                        "frame's rotation turns by the least angle that puts the target's subject where this "
                        "one is in the reference's frame, Pi per frame kept")
    parser.add_argument("--subject", metavar="X,Y,Z",
                        help="the target's subject point (needs --reference-subject); default: found by depth "
                        "along the start view (on the ray through the reference subject's image position at "
                        "the first frame, at the target depth measured from the start pose)")
    parser.add_argument("--mode", default="per-frame", choices=["per-frame", "global", "uncalibrated"])
    parser.add_argument("--strength", default="1", metavar="G",
                        help="the written move realizes G x the reference's parallax at every frame (G > 0; "
                        "default 1: the same; 0.5 half as strong, 2 twice); global mode: G x the first frame's "
                        "scale; uncalibrated: G x the raw move" + (" (a manifest's strength column overrides "
                                                                    "it)" if batch else ""))
    _add_statistic(parser)
    parser.add_argument("--ref-intrinsics", help="fx,fy,cx,cy (pixels) of a reference depth map")
    parser.add_argument("--target-intrinsics", help="fx,fy,cx,cy (pixels) of a target depth map")
    parser.add_argument("--pixel-origin", default="center", choices=["center", "corner"],
                        help="depth-map intrinsics convention: 'center' = OpenCV (pixel (i, j) at u=j, v=i; "
                        "cx = (W-1)/2 when centred), 'corner' = Blender/ParaScale (cx = W/2 when centred)")
    parser.add_argument("--in-format", help="format of the reference file(s) (default: sniffed)")
    _add_output_choice(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parascale", description="Scale-calibrated camera-motion transfer (Parallax Number).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("transfer", help="calibrate one reference clip into a target scene")
    p.add_argument("reference", help="reference pose file or COLMAP folder")
    _add_transfer_options(p)
    p.add_argument("-o", "--output", required=True, help="output file (or folder for COLMAP)")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    _add_export_options(p)

    p = commands.add_parser("measure", help="per-frame Pi of a candidate against a reference, and PCE")
    p.add_argument("candidate", help="candidate pose file (the generated or transferred camera)")
    p.add_argument("--depth", required=True, help="candidate scene depth (same kinds as --ref-depth)")
    p.add_argument("--intrinsics", help="fx,fy,cx,cy of a candidate depth map")
    p.add_argument("--reference", required=True, help="reference pose file")
    p.add_argument("--ref-depth", required=True, help=_depth_help("reference"))
    p.add_argument("--ref-intrinsics", help="fx,fy,cx,cy of a reference depth map")
    p.add_argument("--pixel-origin", default="center", choices=["center", "corner"])
    _add_statistic(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser("convert", help="convert a pose file between formats")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--in-format", help="input format (default: sniffed)")
    _add_output_choice(p)
    _add_export_options(p)

    p = commands.add_parser("batch", help="calibrate every clip of a folder or a manifest (local processes or Ray)")
    p.add_argument("source", metavar="IN_DIR|MANIFEST", help="a folder of pose files, or a manifest (.jsonl or "
                   ".csv, one row per clip: reference, ref_depth, target_depth, start, mode, preset, name, "
                   "ref_intrinsics, target_intrinsics, strength, statistic, timing, model_size; relative paths "
                   "resolve against the manifest's folder)")
    p.add_argument("out_dir")
    _add_transfer_options(p, batch=True)
    p.add_argument("--engine", default="local", choices=ENGINES,
                   help="local processes (default) or Ray tasks (needs parascale[ray])")
    p.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                   help="local processes (default: CPU count); Ray uses the cluster's CPUs")
    p.add_argument("--ray-address", help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray instance)")
    p.add_argument("--shard", help="I/N: only the I-th of N shards of the clip list (0-based; for job arrays)")
    p.add_argument("--force", action="store_true",
                   help="redo clips whose outputs exist and whose inputs and options are unchanged")
    _add_export_options(p)

    commands.add_parser("formats", help="list formats and presets")
    return parser


def _options(args: argparse.Namespace) -> TransferOptions:
    """The transfer options of the command line (in a batch, every clip's defaults)."""
    try:
        strength = check_strength(args.strength)
    except ParaScaleError as error:
        raise ParaScaleError(f"--strength: {error}") from None
    return TransferOptions(ref_depth=args.ref_depth, target_depth=args.target_depth, mode=normalize_mode(args.mode),
                           start=args.start, target_intrinsics=args.target_intrinsics,
                           ref_intrinsics=args.ref_intrinsics, pixel_origin=args.pixel_origin, format=args.format,
                           preset=args.preset, frames=args.frames, input_format=args.in_format, strength=strength,
                           statistic=args.statistic, reference_subject=args.reference_subject,
                           subject=args.subject, timing=args.timing, model_size=args.model_size)


def _fmt(value: object, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return format(value, spec)


COLUMN_GAP = "  "


def summary_table(summaries: dict[str, dict | str], chosen: str) -> str:
    """One row per mode; every column is as wide as its widest cell and columns are COLUMN_GAP apart, so
    numbers of any width never run together."""
    strengths = {s.get("strength", 1.0) for s in summaries.values() if isinstance(s, dict)}
    # With a strength dial g != 1 the aim g x Pi_total ref stands next to the reference's; PCE and bias are
    # against that aim.
    strength = next(iter(strengths)) if len(strengths) == 1 and strengths != {1.0} else None
    aim = [] if strength is None else [f"{strength:g} x ref"]
    header = ["mode", "Pi_total ref", *aim, "Pi_total real", "PCE", "bias", "scale range"]
    rows: list[list[str]] = []
    failures: list[tuple[str, str]] = []
    for mode, summary in summaries.items():
        label = mode.replace("_", "-") + (" *" if mode == chosen else "")
        if isinstance(summary, str):
            failures.append((label, summary))
            continue
        rows.append([label, _fmt(summary["pi_total_reference"]),
                     *([_fmt(summary["pi_total_target"])] if aim else []), _fmt(summary["pi_total_realized"]),
                     _fmt(summary["pce"], ".4g"), _fmt(summary["bias"], ".4g"),
                     f"{_fmt(summary['scale_min'])} .. {_fmt(summary['scale_max'])}"])
    last = len(header) - 1
    labels = [header[0]] + [r[0] for r in rows] + [f[0] for f in failures]
    widths = [max(len(x) for x in labels)] + [max(len(r[i]) for r in [header, *rows]) for i in range(1, last)]

    def line(cells: list[str]) -> str:
        numbers = [cell.rjust(width) for cell, width in zip(cells[1:last], widths[1:], strict=True)]
        return COLUMN_GAP.join([cells[0].ljust(widths[0]), *numbers, cells[last]])

    lines = [line(header)] + [line(r) for r in rows]
    lines += [f"{label.ljust(widths[0])}{COLUMN_GAP}failed: {reason}" for label, reason in failures]
    return "\n".join(lines)


def command_transfer(args: argparse.Namespace) -> int:
    options = _options(args)
    reference = read_trajectory(args.reference, options.input_format)
    # Footage enters here as a pose estimator's output: a frame whose pose jumps off the path is named.
    suspects = suspect_frames(reference.frames, reference.centres)
    if suspects:
        warnings.warn(f"{args.reference}: suspect frames in the reference poses: {suspects.message()}; check "
                      "the pose estimate there", stacklevel=1)
    result = calibrate(reference, options)
    # Without --format/--preset the output's name decides (.txt: RealEstate10K, .json: ParaScale, ...).
    with warnings.catch_warnings(record=True) as caught:  # what the consumer cannot carry: kept for --json
        warnings.simplefilter("always", UserWarning)
        contents = render_trajectory(args.output, result, format=options.format, preset=options.preset,
                                     frames=options.frames, timing=args.timing, resolution=args.model_size)
    export_warnings = [one_line(str(w.message)) for w in caught]
    for message in export_warnings:
        warnings.warn(message, stacklevel=1)  # and printed on stderr as every warning is
    plan = export_plan(result.trajectory, options.preset, options.frames, args.timing, args.model_size)
    summaries = all_mode_summaries(reference, options, result)
    written = atomic_write_files(contents, inputs=[*input_files(args.reference), *option_inputs(options)])
    precision = float32_precision_warning(result.trajectory.centres)
    if args.json:
        fmt = resolve_format(options.preset or options.format or format_for_output(args.output)).name
        export = export_record(result.trajectory, plan, fmt, written, result.pi_realized, export_warnings)
        print(json.dumps(json_ready({"written": [str(p) for p in written], "mode": result.mode,
                                      "summaries": summaries, "warnings": [precision] if precision else [],
                                      "export": export,
                                      **({"framing": result.framing.summary()} if result.framing else {})}),
                         indent=1))
    else:
        strength = f", strength {result.strength:g}" if result.strength != 1.0 else ""
        print(f"wrote {', '.join(str(p) for p in written)} ({len(result.trajectory)} frames calibrated, "
              f"mode {result.mode.replace('_', '-')}{strength}; * = written)")
        print(summary_table(summaries, result.mode))
        print(export_summary(result.trajectory, plan, result.pi_realized))
        if result.framing is not None:
            print(result.framing.text())
        unconverged = summaries[result.mode]["unconverged_frames"]  # type: ignore[index]
        if unconverged:
            print(f"warning: the per-frame solve did not converge at frames {unconverged}")
        if precision:
            print(f"warning: {precision}")
    return EXIT_OK


def command_measure(args: argparse.Namespace) -> int:
    candidate = read_trajectory(args.candidate)
    reference = read_trajectory(args.reference)
    if len(candidate) != len(reference):
        raise ParaScaleError(f"{args.candidate}: {len(candidate)} frames, but the reference {args.reference} has "
                             f"{len(reference)}; resample one of them (parascale convert --frames N)")
    ref_probe = depth_source(args.ref_depth, "reference", (reference.rotations[0], reference.centres[0]),
                             len(reference), parse_intrinsics(args.ref_intrinsics), args.pixel_origin, args.statistic)
    cand_probe = depth_source(args.depth, "reference", (candidate.rotations[0], candidate.centres[0]),
                              len(candidate), parse_intrinsics(args.intrinsics), args.pixel_origin, args.statistic)
    pi_reference, _ = trajectory_parallax(reference, ref_probe)
    pi_candidate, _ = trajectory_parallax(candidate, cand_probe)
    consistency = parallax_consistency(pi_reference, pi_candidate)
    frames = candidate.frames[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pi_candidate / pi_reference
    if args.json:
        print(json.dumps(json_ready({
            "frames": frames.tolist(), "pi_reference": pi_reference.tolist(), "pi_candidate": pi_candidate.tolist(),
            "ratio": ratio.tolist(), "pi_total_reference": float(pi_reference.sum()),
            "pi_total_candidate": float(pi_candidate.sum()), "pce": consistency.pce, "bias": consistency.bias,
            "worst_frame": float(frames[consistency.worst_index]) if consistency.worst_index >= 0 else None,
        }), indent=1))
        return EXIT_OK
    print(f"{'frame':>8}{'Pi reference':>16}{'Pi candidate':>16}{'ratio':>10}")
    for frame, a, b, r in zip(frames, pi_reference, pi_candidate, ratio, strict=True):
        print(f"{frame:>8g}{a:>16.6g}{b:>16.6g}{_fmt(float(r), '.4g'):>10}")
    print(f"{'total':>8}{pi_reference.sum():>16.6g}{pi_candidate.sum():>16.6g}")
    print(f"PCE {consistency.pce:.6g}  bias {consistency.bias:.6g}  worst frame "
          f"{_fmt(float(frames[consistency.worst_index]) if consistency.worst_index >= 0 else None, 'g')}")
    return EXIT_OK


def command_convert(args: argparse.Namespace) -> int:
    trajectory = read_trajectory(args.input, args.in_format)
    contents = render_trajectory(args.output, trajectory, format=args.format, preset=args.preset,
                                 frames=args.frames, timing=args.timing, resolution=args.model_size)
    plan = export_plan(trajectory, args.preset, args.frames, args.timing, args.model_size)
    written = atomic_write_files(contents, inputs=input_files(args.input))
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(export_summary(trajectory, plan))
    return EXIT_OK


def command_batch(args: argparse.Namespace) -> int:
    options = _options(args)
    if args.jobs < 1:
        raise ParaScaleError(f"--jobs must be at least 1, got {args.jobs}")
    if args.ray_address is not None and args.engine != "ray":
        raise ParaScaleError("--ray-address needs --engine ray")
    try:
        report = run_batch(args.source, args.out_dir, options, jobs=args.jobs, progress=sys.stderr,
                           engine=args.engine, ray_address=args.ray_address, shard=parse_shard(args.shard),
                           force=args.force)
    except BatchInterrupted as stop:
        print(f"parascale: interrupted: {stop.finished} of {stop.total} clips finished and logged in "
              f"{short_path(stop.log)}; the same command resumes", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report.text())
    return EXIT_FAILED_CLIPS if report.failures else EXIT_OK


def command_formats(args: argparse.Namespace) -> int:
    print(formats_table())
    return EXIT_OK


COMMANDS = {"transfer": command_transfer, "measure": command_measure, "convert": command_convert,
            "batch": command_batch, "formats": command_formats}


# Blender's last frame is 1048574; more output frames than that is a typo, and would fill the memory.
MAX_OUTPUT_FRAMES = 1_048_574
# Options whose value names a file or a number: an empty value is refused, never read as "." or 0.
POSITIONAL = {"reference", "candidate", "input", "output", "source", "out_dir"}


def _empty_value(args: argparse.Namespace) -> str | None:
    """The first option given an empty (or blank) value, as the user would write it."""
    for name, value in vars(args).items():
        if isinstance(value, str) and not value.strip():
            return name.upper() if name in POSITIONAL and name != "output" else "--" + name.replace("_", "-")
    return None


def _run(args: argparse.Namespace) -> int:
    """Run a command with numpy warnings as errors (an overflow must stop with a message, never print a
    RuntimeWarning or go on with inf) and library warnings shown as one `parascale: warning:` line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        code = COMMANDS[args.command](args)
    for warning in caught:
        print(f"parascale: warning: {one_line(str(warning.message))}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some batch clips failed, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    empty = _empty_value(args)
    try:
        if empty:
            raise ParaScaleError(f"{empty}: empty value")
        frames = getattr(args, "frames", None)
        if frames is not None and not 2 <= frames <= MAX_OUTPUT_FRAMES:
            raise ParaScaleError(f"--frames must lie within 2 .. {MAX_OUTPUT_FRAMES}, got {frames}")
        return _run(args)
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        return EXIT_OK
    except ParaScaleError as error:
        message = str(error)
    except RuntimeWarning as warning:
        message = f"numeric overflow: {warning} (a number in the input is too large or too small)"
    except OSError as error:
        where = f"{short_path(error.filename)}: " if error.filename else ""
        message = f"{where}{error.strerror or error}"
    except MemoryError:
        message = "out of memory (an input is too large)"
    print(f"parascale: error: {one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
