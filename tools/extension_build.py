"""Build and validate the ParaScale extension zip with Blender's own extension command line.

The command line (`blender_ext.py`) ships inside the bpy wheel; it runs with the current Python, so no
Blender executable is needed. Run as `.venv/bin/python -m parascale.tools.extension_build out/extension`
(`make extension`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ExtensionBuildError(RuntimeError):
    """Blender's extension command line rejected the manifest or failed to build."""


def blender_ext_cli() -> Path:
    """Path of `blender_ext.py` inside the installed bpy package (found without importing bpy)."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionBuildError("the bpy package is not installed in this Python")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    candidates = sorted(package_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not candidates:
        raise ExtensionBuildError(f"no blender_ext.py under {package_dir}")
    return candidates[-1]


def _run(args: list[str]) -> str:
    cmd = [sys.executable, str(blender_ext_cli()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise ExtensionBuildError(f"blender_ext.py {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def manifest() -> dict:
    with open(REPO_ROOT / "blender_manifest.toml", "rb") as handle:
        return tomllib.load(handle)


def validate_extension(source_dir: Path = REPO_ROOT) -> None:
    """Blender's manifest validation; raises ExtensionBuildError when it fails."""
    _run(["validate", str(source_dir)])


def fetch_wheels(source_dir: Path = REPO_ROOT) -> list[Path]:
    """The wheels the manifest bundles (`wheels`, each a pinned file name), downloaded from PyPI with pip
    into the source folder where missing (they are not kept in git). Returns their paths."""
    with open(source_dir / "blender_manifest.toml", "rb") as handle:
        listed = tomllib.load(handle).get("wheels", [])
    paths = []
    for relative in listed:
        path = (source_dir / relative).resolve()
        paths.append(path)
        if path.is_file():
            continue
        # name-version(-build)?-python-abi-platform.whl; a platform tag set is joined by dots.
        parts = path.name[:-len(".whl")].split("-")
        name, version, python, abi, platforms = parts[0], parts[1], parts[-3], parts[-2], parts[-1].split(".")
        with tempfile.TemporaryDirectory(prefix="parascale-wheels-") as folder:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                       "--dest", folder, "--python-version", python.removeprefix("cp"), "--implementation", "cp",
                       "--abi", abi, *(arg for tag in platforms for arg in ("--platform", tag)),
                       f"{name}=={version}"]
            done = subprocess.run(command, capture_output=True, text=True)
            fetched = Path(folder) / path.name
            if done.returncode != 0 or not fetched.is_file():
                detail = (done.stderr.strip().splitlines() or [f"pip did not write {path.name}"])[-1]
                raise ExtensionBuildError(f"cannot download the bundled wheel {path.name}: {detail}")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(fetched), path)
    return paths


def build_extension(output_dir: str | Path, source_dir: Path = REPO_ROOT) -> Path:
    """Validate the manifest, fetch the wheels it bundles, build the zip into `output_dir` (created) and
    return its path."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    validate_extension(source_dir)
    fetch_wheels(source_dir)
    info = manifest()
    zip_path = output_dir / f"{info['id']}-{info['version']}.zip"
    if zip_path.exists():
        zip_path.unlink()
    _run(["build", "--source-dir", str(source_dir), "--output-dir", str(output_dir)])
    if not zip_path.is_file():
        raise ExtensionBuildError(f"the build reported success but {zip_path} does not exist")
    _run(["validate", str(zip_path)])
    return zip_path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build and validate the ParaScale extension zip")
    parser.add_argument("output_dir", nargs="?", type=Path, help="folder for the zip (default: out/extension)")
    parser.add_argument("--output-dir", dest="output_dir_option", type=Path, help="the same, as an option")
    args = parser.parse_args(argv)
    output_dir = args.output_dir or args.output_dir_option or REPO_ROOT / "out" / "extension"
    try:
        path = build_extension(output_dir)
    except ExtensionBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
