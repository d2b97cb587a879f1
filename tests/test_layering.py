"""Imports run one way: config → data → workload → client/server → results → commands.

Every package sits in a layer and may import only from lower layers (and from itself); packages that share a
layer do not import each other, except for the pairs listed. Imports under `if TYPE_CHECKING:` are
annotations only and are not counted; imports inside functions are.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: list[tuple[str, ...]] = [
    ("fedkd.errors", "fedkd.paths", "fedkd.protocol"),
    ("fedkd.config",),                              # knows no component
    ("fedkd.data", "fedkd.models", "fedkd.distill", "fedkd.state", "fedkd.results"),  # models never load data
    ("fedkd.privacy", "fedkd.checkpoint", "fedkd.audit"),  # DP, its accounting and its audit; checkpoints, resume
    ("fedkd.training",),
    ("fedkd.faces", "fedkd.methods", "strategies"),  # face toolkit; client methods; server strategies
    ("fedkd.workloads", "private_gen"),
    ("fedkd.relations",),                           # the cross-section checks
    ("fedkd.app", "fedkd.face_experiment", "private_gen.config", "private_gen.experiment"),
    ("fedkd.plots", "fedkd.deploy", "fedkd.tuning"),
    ("fedkd.commands",),                            # console entries and their shared helpers: imported by none
]
SAME_LAYER_ALLOWED = {
    ("fedkd.methods", "strategies"),                 # a method's registry entry names its server strategy
    ("private_gen.experiment", "private_gen.config"),  # the experiment runs on its root settings
}
GROUPS = {group: layer for layer, groups in enumerate(LAYERS) for group in groups}


def group_of(module: str) -> str | None:
    matches = [g for g in GROUPS if module == g or module.startswith(g + ".")]
    return max(matches, key=len) if matches else None


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("fedkd", "private_gen", "strategies"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            ids |= {id(n) for child in node.body for n in ast.walk(child)}
    return ids


def imported(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    names = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_every_module_belongs_to_a_layer():
    assert [m for m, _ in modules() if m != "fedkd" and group_of(m) is None] == []


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_point_down_the_layers(module, path):
    source = group_of(module)
    if source is None:
        return
    wrong = []
    for name in imported(path):
        target = group_of(name)
        if target is None or target == source or (source, target) in SAME_LAYER_ALLOWED:
            continue
        if GROUPS[target] >= GROUPS[source]:
            wrong.append(f"{name} ({target}, layer {GROUPS[target]})")
    assert wrong == [], f"{module} (layer {GROUPS[source]}) imports upward or sideways: {wrong}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule itself can fail: a model importing the data package is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from fedkd.data.federated import load_client_data\n")
    assert imported(bad) == ["fedkd.data.federated.load_client_data"]
    assert GROUPS[group_of("fedkd.data.federated")] >= GROUPS[group_of("fedkd.models.small_cnn")]
