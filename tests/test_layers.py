"""The package's layers import downward only, without cycles, and without private names.

Read from the source with :mod:`ast` (nothing is imported): every ``import`` in ``src/nc3d`` —
at module level *and* inside functions, since a function-local import is still a dependency —
except those under ``if TYPE_CHECKING:``. The layers, lowest first (a module may import its own
layer and the ones below):

0. ``errors``, ``files``, ``resources``, ``bounded``, ``sandbox``, ``_optional``: no nc3d dependencies
1. ``container``, ``entropy``, ``mesh``, ``dct``, ``blocks``, ``samples``: formats and plain data
2. ``io``, ``geometry``, ``nn``, ``metrics``, ``render``, ``rate``, ``distributed``: reading,
   geometry, networks, measuring, sharing bytes, tasks on Ray
3. ``codecs`` (the protocol and nc3d's codecs) and ``baselines``
4. ``api``, ``batch``, ``chunked``, ``csg``, ``demo``, ``bench``, ``testing``, ``view``:
   what uses codecs
5. ``cli``, ``_console``, ``__main__``: the command line
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nc3d"

LAYERS = [
    {"errors", "files", "resources", "bounded", "sandbox", "_optional"},
    {"container", "entropy", "mesh", "dct", "wavelet", "blocks", "samples"},
    {"io", "geometry", "nn", "metrics", "render", "rate", "distributed"},
    {"codecs", "baselines"},
    {"api", "batch", "chunked", "csg", "demo", "bench", "testing", "view"},
    {"cli", "_console", "__main__"},
]
#: The codec implementations: neither imports another's package (the protocol, ``codecs.base``,
#: ``codecs.handles`` and ``codecs.volume_header``, is shared by all).
IMPLEMENTATIONS = ("nc3d.codecs.implicit", "nc3d.codecs.shapeset", "nc3d.codecs.volume", "nc3d.baselines")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) of every nc3d import in ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "nc3d" or target.startswith("nc3d."):
                    names = [a.name for a in child.names]
                    if not child.module:  # from . import x, y: each is a module
                        out.extend((f"{target}.{n}", [], child.lineno) for n in names)
                    else:
                        out.append((target, names, child.lineno))
            elif isinstance(child, ast.Import):
                out.extend((a.name, [], child.lineno) for a in child.names if a.name.startswith("nc3d."))
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return out


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int | None:
    comp = _component(module)
    return next((i for i, names in enumerate(LAYERS) if comp in names), None)


FILES = sorted(SRC.rglob("*.py"))
GRAPH = {_module_name(p): _imports(p) for p in FILES}


def _resolve(target: str) -> str:
    """The module an import names (``from nc3d.x import y``: ``nc3d.x.y`` when that is a module)."""
    return (
        target
        if target in GRAPH
        else target.rpartition(".")[0]
        if target.rpartition(".")[0] in GRAPH
        else target
    )


def test_every_module_has_a_layer():
    missing = sorted({_component(m) for m in GRAPH if m != "nc3d" and _layer(m) is None})
    assert not missing, f"put these in a layer of tests/test_layers.py: {missing}"


def test_layers_import_downward_only():
    wrong = []
    for module, imports in GRAPH.items():
        if module == "nc3d":  # the package's lazy re-exports (PEP 562) name every layer on purpose
            continue
        for target, _, line in imports:
            if _layer(target) is not None and _layer(target) > _layer(module):
                wrong.append(f"{module}:{line} imports {target} (layer {_layer(target)} > {_layer(module)})")
    assert not wrong, "\n".join(wrong)


def test_codec_implementations_do_not_import_each_other():
    """Nor does the protocol (``nc3d.codecs.base``, ``.handles``, …) import an implementation."""
    wrong = []
    for module, imports in GRAPH.items():
        own = next((p for p in IMPLEMENTATIONS if module == p or module.startswith(p + ".")), None)
        if own is None and module.startswith("nc3d.codecs"):
            own = "the protocol"
        if own is None:
            continue
        for target, _, line in imports:
            other = next((p for p in IMPLEMENTATIONS if target == p or target.startswith(p + ".")), None)
            if other is not None and other != own:
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_private_names_cross_packages():
    wrong = []
    for module, imports in GRAPH.items():
        package = (
            module.rpartition(".")[0]
            if not (SRC / Path(*module.split(".")[1:]) / "__init__.py").exists()
            else module
        )
        for target, names, line in imports:
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    home = _resolve(target)
                    home_package = (
                        home.rpartition(".")[0]
                        if home in GRAPH and not (SRC / Path(*home.split(".")[1:]) / "__init__.py").exists()
                        else home
                    )
                    if home_package != package:
                        wrong.append(f"{module}:{line} imports {name} from {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = {
        m: sorted({_resolve(t) for t, _, _ in imports if _resolve(t) in GRAPH and _resolve(t) != m})
        for m, imports in GRAPH.items()
        if m != "nc3d"
    }
    for m in edges:  # a package's __init__ re-exporting its own modules is not a cycle through them
        edges[m] = [
            t
            for t in edges[m]
            if t != "nc3d"
            and not (
                m.startswith(t + ".")
                and GRAPH.get(t) is not None
                and (SRC / Path(*t.split(".")[1:]) / "__init__.py").exists()
            )
        ]
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges.get(m, []):
            if state.get(t) == 1:
                cycles.append(" → ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("path", ["cli.py", "demo.py", "bench", "testing/fuzz.py"])
def test_callers_ask_codecs_instead_of_checking_names_or_types(path):
    """No ``codec.name == "..."``, no ``isinstance``/``hasattr`` on a codec or handle: callers use
    ``kind``, ``capabilities``/``supports()`` and ``presets``."""
    handle_types = {
        "EncodedFile",
        "MeshFile",
        "VolumeFile",
        "MeshSetFile",
        "ImplicitShape",
        "ShapeSetFile",
        "Codec",
    }
    wrong = []
    for file in [SRC / path] if path.endswith(".py") else sorted((SRC / path).rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Attribute)
                and node.left.attr in ("name", "codec")
                and any(isinstance(c, ast.Constant) and isinstance(c.value, str) for c in node.comparators)
            ):
                wrong.append(f"{file.name}:{node.lineno} compares a codec name")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "isinstance" and len(node.args) == 2:
                    names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                    if names & handle_types:
                        wrong.append(f"{file.name}:{node.lineno} isinstance on a codec or handle")
                if (
                    node.func.id in ("hasattr", "getattr")
                    and node.args
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id in ("handle", "codec", "c", "shape")
                ):
                    wrong.append(f"{file.name}:{node.lineno} {node.func.id} on {node.args[0].id}")
    assert not wrong, "\n".join(wrong)
