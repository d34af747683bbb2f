"""core/ must run inside stock Blender: numpy only (no bpy, mathutils or scipy), and importing the
extension's root package must not import bpy."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"bpy", "mathutils", "scipy", "bmesh", "gpu"}


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT / "core")))
def test_core_module_imports_only_numpy_and_the_standard_library(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"


def test_core_imports_with_scipy_and_bpy_unavailable():
    code = (
        "import sys\n"
        "for name in ('scipy', 'bpy', 'mathutils'): sys.modules[name] = None\n"
        "import pkgutil, importlib, parascale.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'parascale.core.'): importlib.import_module(m.name)\n"
        "import parascale\n"
        "assert 'bpy' not in sys.modules or sys.modules['bpy'] is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
