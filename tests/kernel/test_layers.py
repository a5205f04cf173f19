"""The layers of the kernel, checked on the source: the plain kernel knows no nameko and none of
the opt-in helpers; only `shared/nameko_edge/patches.py` touches the private names of nameko,
kombu or py-amqp (an upgrade of those libraries then has one module to review)."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATCHES = ROOT / "shared" / "nameko_edge" / "patches.py"
LIBRARIES = ("nameko", "kombu", "amqp")
PRIVATE_DEFINED = re.compile(r"(?:def\s+|(?:self|cls)\.)(_[A-Za-z]\w*)")

# The plain kernel: no nameko, and nothing of the edge or the throughput helpers.
KERNEL = ["shared/domain.py", "shared/codec.py", "shared/application.py", "shared/db.py", "shared/inbox.py",
          "shared/projections.py", "shared/relay.py", "shared/eventstore", "shared/contracts"]


def modules(*roots: str) -> list[Path]:
    out = []
    for root in roots:
        path = ROOT / root
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def imported(tree: ast.AST) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) of every import in the module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, alias.name, node.lineno) for alias in node.names]
    return out


def library_private_names() -> set[str]:
    names: set[str] = set()
    for library in LIBRARIES:
        folder = Path(importlib.import_module(library).__file__).parent
        for path in folder.rglob("*.py"):
            names.update(PRIVATE_DEFINED.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def test_only_the_patches_module_uses_private_names_of_nameko_kombu_or_amqp():
    files = [p for p in modules("shared", "services", "deploy", "bench") if p != PATCHES]
    ours = set()
    for path in files:
        ours.update(PRIVATE_DEFINED.findall(path.read_text(encoding="utf-8")))
    theirs = library_private_names() - ours   # e.g. `_write`, a py-amqp transport's
    assert "_write" in theirs and "handle_result" not in theirs   # the check itself sees them
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module, name, line in imported(tree):
            parts = module.split(".") + ([name] if name else [])
            if parts[0] in LIBRARIES and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {'.'.join(parts)}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in theirs
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses .{node.attr}")
    assert found == [], "only shared/nameko_edge/patches.py may touch library internals:\n" + "\n".join(found)


def test_the_plain_kernel_imports_neither_nameko_nor_the_edge_nor_the_throughput_helpers():
    found = []
    for path in modules(*KERNEL):
        for module, _, line in imported(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] == "nameko" or module.startswith(("shared.nameko_edge", "shared.throughput")):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert found == []


def test_nothing_patches_a_library_on_import():
    """Importing the whole edge leaves nameko as it is: the patches are installed explicitly."""
    import subprocess
    import sys

    code = ("import nameko.rpc, nameko.messaging\n"
            "before = (nameko.rpc.RpcConsumer.handle_result, nameko.messaging.QueueConsumer.ack_message)\n"
            "import shared.nameko_edge, services.registration.service\n"
            "after = (nameko.rpc.RpcConsumer.handle_result, nameko.messaging.QueueConsumer.ack_message)\n"
            "assert before == after, 'patched on import'\n"
            "from shared.nameko_edge import patches\n"
            "patches.install()\n"
            "assert nameko.rpc.RpcConsumer.handle_result is not before[0]\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_patches_refuse_library_versions_they_were_not_written_for(monkeypatch):
    from shared.nameko_edge import patches

    monkeypatch.setitem(patches.PATCHED_FOR, "nameko", "2.99.0")
    try:
        patches.check_versions()
    except RuntimeError as exc:
        assert "2.99.0" in str(exc) and "2.14.1" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a version the patches were not written for was accepted")
