"""How far the command line's resampling strays from a curved move it only knows at whole frames.

`.venv/bin/python bench/resampling.py` writes bench/results/resampling.md and prints it with the machine and
date. Two moves known in closed form, sampled at 48 whole frames: an eased arc with roll (a Bezier-like ease
in and out, 1.2 rad of heading, 0.4 rad of roll) and a full orbit around a subject at constant speed with a
rolling camera. Each is resampled to the preset frame counts 81 (Wan), 49 (AC3D) and 16 (CamI2V, MotionCtrl)
with the smooth interpolant (core.poses.resample, method "smooth": cubic Hermite on centres and quaternions)
and with piecewise-linear/slerp, and compared with the closed form at the same times: the largest centre
error as a fraction of the path length, and the largest error of a rotation-matrix entry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402
from parascale.core.poses import Trajectory, look_at, resample  # noqa: E402

FRAMES = 48
COUNTS = (81, 49, 16)


def _rolled(base: np.ndarray, roll: np.ndarray) -> np.ndarray:
    c, s = np.cos(roll), np.sin(roll)
    about_z = np.zeros((len(roll), 3, 3))
    about_z[:, 0, 0], about_z[:, 0, 1], about_z[:, 1, 0], about_z[:, 1, 1], about_z[:, 2, 2] = c, -s, s, c, 1
    return base @ about_z


def eased_arc(times: np.ndarray, last: float) -> tuple[np.ndarray, np.ndarray]:
    """(c2w rotations, centres) at `times` of a move from 0 to `last`: an eased arc of radius 5 with roll."""
    s = np.asarray(times, dtype=np.float64) / last
    eased = 3 * s**2 - 2 * s**3
    angle = 1.2 * eased
    centres = np.stack([5.0 * np.sin(angle), -5.0 * np.cos(angle) + 5.0, 0.8 * eased], axis=1)
    forward = np.stack([np.cos(angle), np.sin(angle), -0.1 * np.ones_like(angle)], axis=1)
    return _rolled(look_at(centres, centres + forward), 0.4 * eased), centres


def orbit(times: np.ndarray, last: float) -> tuple[np.ndarray, np.ndarray]:
    """A full turn of radius 4 around the origin at constant speed, looking at it, rolling 0.3 rad back and
    forth."""
    s = np.asarray(times, dtype=np.float64) / last
    angle = 2.0 * np.pi * s
    centres = np.stack([4.0 * np.cos(angle), 4.0 * np.sin(angle), 1.0 + 0.5 * np.sin(2 * angle)], axis=1)
    return _rolled(look_at(centres, np.zeros(3)), 0.3 * np.sin(angle)), centres


MOVES = {"eased arc with roll": eased_arc, "orbit with roll": orbit}


def resampling_errors(move, count: int, method: str) -> tuple[float, float]:
    """(largest centre error / path length, largest rotation-entry error) of resampling `move`, known at
    FRAMES whole frames, to `count` frames over the same span."""
    frames = np.arange(float(FRAMES))
    rotations, centres = move(frames, FRAMES - 1.0)
    trajectory = Trajectory(rotations, centres, frames=frames)
    want_r, want_c = move(np.linspace(0.0, FRAMES - 1.0, count), FRAMES - 1.0)
    got = resample(trajectory, count, method=method)
    length = trajectory.path_length()
    return (float(np.linalg.norm(got.centres - want_c, axis=1).max() / length),
            float(np.abs(got.rotations - want_r).max()))


def main() -> int:
    lines = [f"Resampling a move known at {FRAMES} whole frames (`.venv/bin/python bench/resampling.py`); "
             f"{machine_line()}", "",
             "| move | frames out | smooth: centre / path length | smooth: rotation entry | linear: centre / path "
             "length | linear: rotation entry |", "|---|---:|---:|---:|---:|---:|"]
    for name, move in MOVES.items():
        for count in COUNTS:
            smooth, linear = resampling_errors(move, count, "smooth"), resampling_errors(move, count, "linear")
            lines.append(f"| {name} | {count} | {smooth[0]:.1e} | {smooth[1]:.1e} | {linear[0]:.1e} | "
                         f"{linear[1]:.1e} |")
    text = "\n".join(lines)
    out = Path(__file__).resolve().parent / "results" / "resampling.md"
    out.write_text("# Resampling error\n\n" + text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
