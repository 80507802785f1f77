"""The shape of the house (docs/architecture.md): which folder imports which, module
lengths, no import cycle in recording/, and light package imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tftrace"

#: What each part of tftrace may import from tftrace, at module level.
ALLOWED = {
    "errors": set(),
    "format": {"errors", "format"},
    "recording": {"errors", "format", "recording", "report.recording"},
    "compare": {"errors", "format", "compare"},
    "lint": {"errors", "format", "lint"},
    "report": {"errors", "format", "compare", "lint", "report"},
    # op isolation (tftrace explain): the diff, then a re-run of one op with TensorFlow
    "isolate": {"errors", "format", "compare", "isolate"},
}
#: Folders that never import TensorFlow, at any level (reading traces stays TensorFlow-free).
NO_TENSORFLOW = ("format", "compare", "lint", "report")
#: Methods of result objects that word themselves through report/ (imported when called).
WORDING_METHODS = {"message", "notes", "to_dict", "to_json", "to_html"}
MAX_LINES = 400


def part_of(module: str) -> str:
    """``tftrace.format.writer`` -> ``format``; ``tftrace.report.recording`` stays whole."""
    parts = module.split(".")[1:]
    if parts[:2] == ["report", "recording"]:
        return "report.recording"
    return parts[0] if parts else ""


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out.append((name, path))
    return out


def imports(path: Path, name: str) -> list[tuple[str, int, str]]:
    """(imported tftrace module, line, where) for every import: ``module`` level,
    ``function <name>`` or ``type-checking``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"function {child.name}")
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, "type-checking")
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, where) for a in child.names if a.name.startswith("tftrace"))
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module
                if child.level:  # relative imports are not used; resolve anyway
                    base = ".".join(name.split(".")[:-child.level] + [child.module])
                if base.startswith("tftrace"):
                    found.extend((f"{base}.{a.name}" if base in ("tftrace.format", "tftrace.report", "tftrace.compare",
                                                                   "tftrace.recording", "tftrace.lint") else base,
                                  child.lineno, where) for a in child.names)
            else:
                visit(child, where)

    visit(tree, "module")
    return found


def test_each_folder_imports_only_the_folders_before_it() -> None:
    wrong = []
    for name, path in modules():
        part = part_of(name)
        if part not in ALLOWED:
            continue  # cli, testing, pytest_plugin, keras, __init__, __main__: anything
        for target, line, where in imports(path, name):
            target_part = part_of(target)
            # "": the package root, for __version__ (it imports nothing heavy itself)
            if where == "type-checking" or target_part in ALLOWED[part] | {""}:
                continue
            if where.startswith("function ") and where.split()[1] in WORDING_METHODS and target_part == "report":
                continue
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {part} imports {target} ({where})")
    assert not wrong, "\n".join(wrong)


def test_the_import_rule_catches_a_step_backwards(tmp_path, monkeypatch) -> None:
    # Negative control: a format module importing compare must be reported.
    fake = tmp_path / "tftrace" / "format"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from tftrace.compare.result import DiffResult\n")
    (found,) = imports(fake / "bad.py", "tftrace.format.bad")
    assert part_of(found[0]) == "compare" and part_of(found[0]) not in ALLOWED["format"]


def tensorflow_imports(path: Path) -> list[int]:
    """Lines that import tensorflow (any submodule), anywhere in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tensorflow" for a in node.names))
            or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow")]


def test_only_recording_and_isolation_import_tensorflow() -> None:
    wrong = [f"{path.relative_to(PACKAGE.parent)}:{line}" for name, path in modules()
             if part_of(name) in NO_TENSORFLOW for line in tensorflow_imports(path)]
    assert not wrong, wrong
    # the control: the isolation's re-run does import it (inside its functions)
    assert tensorflow_imports(PACKAGE / "isolate" / "rerun.py")


def test_no_module_is_longer_than_400_lines() -> None:
    long = {str(path.relative_to(PACKAGE.parent)): n for _, path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_recording_has_no_import_cycle_and_adapters_do_not_import_the_recorder() -> None:
    graph = {name: {t.rsplit(".", 0)[0] for t, _, where in imports(path, name)
                    if where != "type-checking" and t.startswith("tftrace.recording")}
             for name, path in modules() if name.startswith("tftrace.recording")}
    names = set(graph)
    graph = {n: {t if t in names else t.rsplit(".", 1)[0] for t in targets} & names - {n}
             for n, targets in graph.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    typed_back = [name for name, path in modules() if name.startswith("tftrace.recording.")
                  and name not in ("tftrace.recording.recorder", "tftrace.recording.script")  # not adapters
                  and any(t.startswith("tftrace.recording.recorder") for t, _, _ in imports(path, name))]
    assert not typed_back, typed_back
    assert _find_cycle({"a": {"b"}, "b": {"a"}}) is not None  # the walk finds a cycle when there is one


def test_capture_modules_and_adapters_get_the_sink_and_explicit_collaborators() -> None:
    # Only the recorder builds the mechanisms; none takes the recorder (a wide object whose
    # parts it could reach into): each constructor names what it uses.
    wide = []
    for name, path in modules():
        if not name.startswith("tftrace.recording.") or name == "tftrace.recording.recorder":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                for arg in node.args.args:
                    annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                    if arg.arg == "recorder" or annotation in ("Recorder", "Recording"):
                        wide.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {arg.arg}")
    assert not wide, wide
    adapters = {name for name, _ in modules() if name.startswith("tftrace.recording.adapters")}
    assert {"tftrace.recording.adapters.eager", "tftrace.recording.adapters.function",
            "tftrace.recording.adapters.session"} <= adapters
    # An adapter imports values, the sink, the patch helper (and the random op types'
    # list) at run time; what it records through beyond that is handed to it (types only).
    allowed = {f"tftrace.recording.{m}" for m in ("values", "sink", "patches", "random_ops")}
    reaching = [f"{name} imports {target}" for name, path in modules() if name in adapters
                for target, _, where in imports(path, name)
                if where != "type-checking" and target.startswith("tftrace.recording")
                and target not in allowed]
    assert not reaching, reaching


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = walk(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("module, absent", [
    pytest.param("tftrace.compare", ("zarr", "tensorflow", "tftrace.format.reader"), id="compare"),
    pytest.param("tftrace.compare.metrics", ("zarr", "msgpack", "tensorflow"), id="metrics"),
    pytest.param("tftrace.lint", ("zarr", "tensorflow", "tftrace.format.reader"), id="lint"),
    pytest.param("tftrace.format", ("zarr", "tensorflow", "tftrace.format.reader"), id="format"),
    pytest.param("tftrace", ("zarr", "tensorflow", "msgpack"), id="tftrace"),
    pytest.param("tftrace.isolate", ("zarr", "tensorflow", "tftrace.format.reader"), id="isolate"),
])
def test_package_imports_are_light(module: str, absent: tuple[str, ...]) -> None:
    code = (f"import sys, {module}; loaded = [m for m in {list(absent)!r} if m in sys.modules]; "
            "print(','.join(loaded))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"importing {module} loaded {proc.stdout.strip()}"
    # Negative control: the check sees a module that is loaded.
    proc = subprocess.run([sys.executable, "-c", f"import sys, {module}, tftrace.format.reader; "
                           "print('tftrace.format.reader' in sys.modules)"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "True"


TESTS = PACKAGE.parent / "tests"


def sibling_imports(source: str, stems: set[str]) -> list[str]:
    """Imports of a module of tests/ by its bare name (found through sys.path), not as
    ``tests.<folder>.<module>``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found.extend(n for n in names if n.split(".")[0] in stems)
    return found


def test_tests_share_helpers_as_a_package_not_through_sys_path() -> None:
    stems = {p.stem for p in TESTS.rglob("*.py")} - {"__init__"}
    bare = {str(p.relative_to(TESTS)): found for p in TESTS.rglob("*.py")
            if (found := sibling_imports(p.read_text(encoding="utf-8"), stems))}
    assert not bare, bare
    # Negative control: the old spelling is caught.
    assert sibling_imports("from recording_helpers import by_name\n", stems) == ["recording_helpers"]


#: Reading an event's attrs by string key (instead of its typed fields) outside the vocabulary.
STRING_ATTRS_READ = ("attrs.get(", 'attrs["', "attrs['")


def string_attr_reads(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if any(p in line for p in STRING_ATTRS_READ)]


def test_attrs_are_read_by_string_only_in_the_vocabulary() -> None:
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}" for _, path in modules()
             if path.name != "events.py" or path.parent.name != "format"
             for n in string_attr_reads(path.read_text(encoding="utf-8"))]
    assert found == []
    # the control: the check sees such a read
    assert string_attr_reads('x = 1\nmode = ev.attrs.get("mode")\n') == [2]
