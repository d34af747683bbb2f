"""A small dataset for the batch tests: clips with their own per-frame reference depths, a target point
cloud, and a JSONL manifest that names them with paths relative to its folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from parascale.core.formats import write_trajectory
from parascale.core.poses import Intrinsics, Trajectory, look_at

CLIPS = 8


def dataset_clip(seed: int, n: int = 21) -> Trajectory:
    rng = np.random.default_rng(seed)
    eye = np.c_[np.linspace(0, rng.uniform(0.5, 2), n), np.linspace(-5, -4, n), np.full(n, 1.0)]
    return Trajectory(look_at(eye, np.tile([0.0, 0.0, 1.0], (n, 1))), eye, lens=35.0,
                      intrinsics=Intrinsics(width=160, height=90))


def make_dataset(root: Path, clips: int = CLIPS, frames: int = 21) -> Path:
    """root/data/{clips,depth}/, root/data/target.npy and root/data/manifest.jsonl; returns the manifest.
    Clip i's reference depth is 4 + i at every frame, so its per-frame scale is target depth / (4 + i)."""
    data = root / "data"
    (data / "clips").mkdir(parents=True)
    (data / "depth").mkdir()
    rng = np.random.default_rng(7)
    np.save(data / "target.npy", rng.normal(size=(300, 3)) * [2.0, 2.0, 0.5] + [0.0, 30.0, 1.0])
    rows = []
    for i in range(clips):
        write_trajectory(data / "clips" / f"clip{i:02d}.txt", dataset_clip(i, frames))
        (data / "depth" / f"clip{i:02d}.txt").write_text("\n".join([str(4 + i)] * frames) + "\n")
        rows.append({"reference": f"clips/clip{i:02d}.txt", "ref_depth": f"depth/clip{i:02d}.txt",
                     "target_depth": "target.npy"})
    manifest = data / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def clip_outputs(out: Path) -> dict[str, bytes]:
    """Every clip output of a batch folder (not its logs and summaries), by name."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and not p.name.startswith("batch-")}
