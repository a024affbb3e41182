"""The layers the README draws, held by the import graph: a lower layer never imports a higher one.

Read from the source with `ast` (function-level imports included, `if TYPE_CHECKING:` blocks not: they
never run), so the test needs no import of the package and fails on the line that breaks a rule.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "harness"

# Bottom to top. A module may import its own layer's modules and any layer below. In an `independent`
# layer, the packages listed may not import each other: they meet only through lower layers.
LAYERS: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("foundation", False, ("harness", "harness.errors", "harness.paths", "harness.versions", "harness.records")),
    ("data", False, ("harness.topology", "harness.scenarios.durations", "harness.jobs.contract", "harness.jobs.spec",
                     "harness.faults.schedule", "harness.verify.expectations")),
    ("runtime", False, ("harness.runtime", "harness.dist")),
    ("clients", False, ("harness.kafka", "harness.spark")),
    ("backends", False, ("harness.backends",)),
    ("scenarios, jobs, faults, verification", True, ("harness.scenarios", "harness.jobs", "harness.faults", "harness.verify")),
    ("runner", False, ("harness.runner",)),
    ("entry points", True, ("harness.gate", "harness.bench", "harness.pytest_plugin", "harness.containers")),
    ("command line", False, ("harness.cli", "harness.__main__")),
)
# Pure data: what loading a profile or a scenario file touches. These import only each other.
PURE = ("harness", "harness.errors", "harness.records", "harness.versions", "harness.topology", "harness.scenarios.durations", "harness.jobs.contract",
        "harness.jobs.spec", "harness.faults.schedule", "harness.verify.expectations", "harness.scenarios.spec")
# A module only its own package may import: the rest of the harness goes through the package's checkers.
INTERNAL = {"harness.verify.oracle": "harness.verify"}


def _group(module: str) -> tuple[int, str]:
    """(layer index, the listed prefix) of a module: the longest listed prefix wins."""
    best: tuple[int, str] | None = None
    for index, (_, _, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes if p != "harness") or module == "harness"


def violation(importer: str, imported: str, name: str | None = None) -> str | None:
    """Why `importer` may not import `imported` (and `name` from it), or None."""
    if name is not None and name.startswith("_") and not name.startswith("__"):
        return f"imports the private {name} of {imported}"
    internal_to = INTERNAL.get(imported)
    if internal_to and not _within(importer, (internal_to,)):
        return f"{imported} is internal to {internal_to}"
    if _within(importer, PURE) and _group(importer)[1] != "harness" and not _within(imported, PURE):
        return "pure data imports a module that is not pure data"
    (low, low_group), (high, high_group) = _group(imported), _group(importer)
    if low > high:
        return f"layer {LAYERS[high][0]!r} imports the higher layer {LAYERS[low][0]!r}"
    if low == high and LAYERS[low][1] and low_group != high_group:
        return f"{high_group} and {low_group} are independent in layer {LAYERS[low][0]!r}"
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = REPO / Path(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every import that can run; a `from m import x` of a module x counts as m.x."""
    found: list[tuple[int, str, str | None]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, None) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.append((child.lineno, full, None) if _is_module(full) else (child.lineno, child.module, alias.name))
            visit(child)

    visit(tree)
    return [(line, module, name) for line, module, name in found if module == "harness" or module.startswith("harness.")]


def test_every_harness_import_keeps_to_the_layers() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        for line, imported, name in _imports(ast.parse(path.read_text(), str(path))):
            why = violation(importer, imported, name)
            if why:
                problems.append(f"{path.relative_to(REPO)}:{line}: {importer} -> {imported}{'.' + name if name else ''}: {why}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("importer", "imported", "name"), [
    ("harness.topology.arm", "harness.bench.azure", "DeploymentProfile"),
    ("harness.scenarios.spec", "harness.scenarios.faults", "FaultSpec"),
    ("harness.faults.schedule", "harness.backends.base", "Deployment"),
    ("harness.scenarios.replay", "harness.verify.manifest", "AckedRecord"),
    ("harness.jobs.runner", "harness.scenarios.spec", "JobSpec"),
    ("harness.jobs.driver", "harness.scenarios.spec", "JobSpec"),
    ("harness.runner", "harness.verify.oracle", "parse_tick"),
    ("harness.jobs.driver", "harness.jobs.runner", "_write_json"),
    ("harness.backends.external", "harness.backends.base", "_quiet"),
    ("harness.kafka.admin", "harness.backends.base", "Deployment"),
    ("harness.gate", "harness.bench.sweep", "sweep"),
])
def test_the_rules_refuse_the_imports_the_structure_review_found(importer: str, imported: str, name: str) -> None:
    assert violation(importer, imported, name) is not None


@pytest.mark.parametrize(("importer", "imported"), [
    ("harness.runner", "harness.verify.check"),
    ("harness.jobs.runner", "harness.jobs.spec"),
    ("harness.scenarios.spec", "harness.faults.schedule"),
    ("harness.cli", "harness.gate"),
])
def test_the_rules_allow_imports_down_the_layers(importer: str, imported: str) -> None:
    assert violation(importer, imported) is None


def test_loading_a_scenario_file_loads_no_process_container_or_client_code() -> None:
    code = ("import sys, harness.scenarios.spec as s; s.load_scenario('scenarios/stock-ticker.yaml'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psutil', 'docker', 'confluent_kafka', 'pyspark') "
            "or m.startswith(('harness.backends', 'harness.runtime', 'harness.kafka'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_what_a_docker_node_runs_imports_with_the_images_packages_alone() -> None:
    """The driver, Livy, submission and notebook entry points run on a node with the image's Python, which
    has the harness's runtime requirements (pydantic, PyYAML, psutil, confluent-kafka, pyspark) and no more:
    an import of a host-only package (here the CA's `cryptography`) would stop Livy from ever answering."""
    from harness.backends.docker.images import PYTHON_REQUIREMENTS

    allowed = {r.split("==")[0].replace("-", "_").lower() for r in PYTHON_REQUIREMENTS} | {"pyspark", "py4j", "yaml", "typing_extensions"}
    entries = ("harness.jobs.driver", "harness.jobs.livy", "harness.jobs.application", "harness.jobs.notebook", "harness.runtime.nfdelay")
    code = ("import sys\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] == 'cryptography': raise ImportError('host-only package ' + name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
            f"for entry in {entries!r}: __import__(entry)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if not m.startswith('_')} - set(sys.stdlib_module_names)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    third_party = set(eval(result.stdout.strip())) - {"harness"}  # noqa: S307 - our own subprocess's printed list
    assert third_party <= allowed | {"pydantic_core", "annotated_types", "typing_inspection", "cython_runtime"}, third_party - allowed
