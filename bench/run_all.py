"""Run every benchmark in bench/ (`make bench`): each bench/*.py that is a script (has a `__main__`
guard), one after the other in its own process with this Python, from the repository root. Helpers
without a guard (machine.py) and this file are skipped. Each writes its own bench/results/<name>.md.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--list]

Prints each benchmark's output as it runs, then a status line per benchmark; exits non-zero when any
benchmark failed (the others still run). The README's speed tables (between `<!-- bench:NAME -->`
markers) are then rewritten from the results of the benchmarks that succeeded, so every figure there
comes from this command.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from machine import machine_line  # noqa: E402


def benchmarks() -> list[Path]:
    """The benchmark scripts, in name order."""
    return [path for path in sorted(BENCH_DIR.glob("*.py"))
            if path.name != Path(__file__).name and "__main__" in path.read_text()]


# README sections filled from bench/results/<name>.md, with their headings.
README_SECTIONS = {
    "transfer": "Speed: transfer (core, numpy)",
    "geometry": "Speed: geometry depth source",
    "operator": "Speed: the operator in Blender",
    "batch": "Speed: batch on the command line",
}


def refresh_readme(names: list[str], readme: Path = REPO_ROOT / "README.md") -> list[str]:
    """Rewrite the README sections of `names` from their results files; returns the names rewritten."""
    text = readme.read_text()
    done = []
    for name in names:
        results = BENCH_DIR / "results" / f"{name}.md"
        pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
        if name not in README_SECTIONS or not results.is_file() or not pattern.search(text):
            continue
        body = [line for line in results.read_text().strip().splitlines() if not line.startswith("# ")]
        content = "\n".join(body).strip()
        command = f".venv/bin/python bench/{name}.py"
        if command not in content:
            content = f"Command: `{command}`\n\n" + content
        block = f"<!-- bench:{name} -->\n### {README_SECTIONS[name]}\n\n{content}\n<!-- /bench:{name} -->"
        text = pattern.sub(lambda _, block=block: block, text)
        done.append(name)
    readme.write_text(text)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every ParaScale benchmark")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these (file stems, e.g. fidelity)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    scripts = benchmarks()
    if args.only:
        unknown = sorted(set(args.only) - {s.stem for s in scripts})
        if unknown:
            print(f"error: no benchmark named {', '.join(unknown)}; have {', '.join(s.stem for s in scripts)}",
                  file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem in args.only]
    if args.list:
        print("\n".join(s.stem for s in scripts))
        return 0
    print(f"ParaScale benchmarks ({len(scripts)}): {machine_line()}", flush=True)
    outcomes = []
    for script in scripts:
        print(f"\n=== {script.stem}: {sys.executable} {script.relative_to(REPO_ROOT)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=REPO_ROOT)
        outcomes.append((script.stem, code, time.perf_counter() - started))
    print("\n=== summary")
    for name, code, seconds in outcomes:
        print(f"{name:<12} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s")
    refreshed = refresh_readme([name for name, code, _ in outcomes if code == 0])
    if refreshed:
        print(f"README.md: speed tables rewritten from bench/results ({', '.join(refreshed)})")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
