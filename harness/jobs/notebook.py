"""A team's Jupyter notebook, run unchanged: its code cells in order, with the kernel it declares.

HDInsight's notebooks run in sparkmagic kernels: `sparkkernel` (Scala) and `pysparkkernel` (PySpark),
each cell sent to one Livy session where `spark` and `sc` are predefined. The harness runs the same
cells in one driver of the pinned Spark: a Scala notebook in Spark's Scala shell (`spark-shell -i`),
where each cell is compiled and run as one unit as Livy's interpreter does (a cell that does not
compile, or throws, fails the run and is named); a PySpark notebook as a Python script run by
`spark-submit`, each cell compiled and run on its own in one namespace (its last expression shown,
as a kernel shows it).

What the harness changes, each said in the run's report:

* `%%configure -f` (Livy session settings) becomes the driver's Spark conf. `spark.jars.packages`
  (and `spark.jars.excludes`) are replaced by the pinned connector jars the harness already supplies:
  nothing is downloaded at run time. `%%sql` runs the query and shows it, `%%info` shows the
  session. `%%local`, `%%cleanup`, `%%send_to_spark` and other magics have no meaning outside a
  Jupyter server and are refused with the notebook, the cell and the magic named.
* Parameters (`job.notebook.parameters`) are assigned in a cell injected after the cell tagged
  `parameters`, as papermill does (at the top, after `%%configure`, when no cell is tagged).
* The empty-broker rule: a cell that assigns an empty string to a broker-like name (one containing
  `broker` or `bootstrap`, or `kafkaServers`/`kafka_servers`), as the sample's `val kafkaBrokers = ""`,
  gets a cell after it that assigns the twin's brokers, unless a parameter of that name follows it.
* After the last cell the driver stays up while the notebook's streaming queries run (in a kernel the
  last cell returns while its query runs on). When the harness writes the stop file, it dumps every
  memory table the scenario reads back to JSON in the work directory, stops the queries and exits.

Cells are numbered from 1 in the order the notebook holds them, markdown cells included, so "cell 4"
is the fourth cell a reader sees.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from harness.errors import ConfigError, HarnessError, NotReadyError
from harness.jobs.application import SubmittedApplication, Submission
from harness.jobs.catchup import is_executed
from harness.jobs.driver import STOP_FILE
from harness.jobs.runner import JobHistory, wait_job_started
from harness.jobs.sink_rows import SinkRows, normal_row
from harness.jobs.spec import ApplicationSpec, JobSpec, NotebookSpec
from harness.runtime import processes
from harness.runtime.readiness import wait_for
from harness.spark import harness_conf
from harness.versions import DEFAULT_RELEASE

if TYPE_CHECKING:
    from harness.backends.base import DriverLauncher

Language = Literal["scala", "python"]
ParameterValue = Union[str, int, float, bool]  # not `|`: a Spark node of Python 3.9 imports this module

KERNELS: dict[str, Language] = {"sparkkernel": "scala", "pysparkkernel": "python", "python3": "python", "python": "python",
                                "spark": "scala", "scala": "scala"}
"""Kernelspec names the harness runs, and the language each runs cells in."""

MARKER = "[harness] notebook"
"""Each cell prints `[harness] notebook NAME: cell N` before it runs and `... cell N failed` if it fails."""

MEMORY_DIR = "memory"
SQL_MAX_ROWS = 2500  # sparkmagic's %%sql default (-n)
_REFUSED_MAGICS = {
    "local": "it runs the cell in the Jupyter server's own Python, which a harness run does not have",
    "cleanup": "it deletes Livy sessions of the Jupyter server",
    "send_to_spark": "it sends a variable of the Jupyter server's local Python to the session",
}
_LIVY_SETTINGS = {"driverMemory": "spark.driver.memory", "driverCores": "spark.driver.cores", "executorMemory": "spark.executor.memory",
                  "executorCores": "spark.executor.cores", "numExecutors": "spark.executor.instances", "name": "spark.app.name",
                  "files": "spark.files", "archives": "spark.archives"}
_LIVY_IGNORED = {"queue": "YARN queues do not exist in the twin", "proxyUser": "the twin has no user impersonation",
                 "heartbeatTimeoutInSecond": "the twin has no Livy session to time out", "kind": "the kernel says the language"}
_REPLACED_CONF = ("spark.jars.packages", "spark.jars.excludes", "spark.jars.repositories")
_BROKER_NAME = re.compile(r"(?i)^(\w*(broker|bootstrap)\w*|kafka_?servers)$")
_SCALA_EMPTY = re.compile(r"^\s*(?P<kw>val|var)\s+(?P<name>[A-Za-z_]\w*)\s*(:\s*String\s*)?=\s*\"\"\s*;?\s*(//.*)?$", re.M)
_PYTHON_EMPTY = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*(:\s*str\s*)?=\s*(\"\"|'')\s*(#.*)?$", re.M)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


# ----- the notebook as data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position in the notebook, markdown cells included
    kind: str  # code, markdown, raw
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notebook:
    path: Path
    kernel: str
    language: Language
    cells: tuple[Cell, ...]

    @property
    def name(self) -> str:
        return self.path.name


def load_notebook(path: Path) -> Notebook:
    """The notebook's cells and kernel, from its JSON (nbformat 4); a file that is not one, or a kernel the
    harness cannot run, is refused with the fix."""
    where = "job.notebook.file"
    if not path.is_file():
        raise ConfigError(f"{where}: {path} does not exist", hint="give the path from the directory you run the harness in")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        raw_cells = document["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: {path} is not a Jupyter notebook ({exc})", hint="save it from Jupyter as .ipynb (nbformat 4)") from None
    metadata = document.get("metadata") or {}
    kernel = str((metadata.get("kernelspec") or {}).get("name") or "")
    language = KERNELS.get(kernel)
    if language is None:
        known = ", ".join(sorted(KERNELS))
        raise ConfigError(f"{where}: {path} declares the kernel {kernel or '(none)'!r}, which the harness cannot run",
                          hint=f"set metadata.kernelspec.name to one of {known} (sparkkernel: Scala, pysparkkernel: PySpark)")
    cells = tuple(Cell(number=n, kind=str(c.get("cell_type", "code")), source=_text(c.get("source", "")),
                       tags=tuple((c.get("metadata") or {}).get("tags") or ())) for n, c in enumerate(raw_cells, start=1))
    return Notebook(path=path, kernel=kernel, language=language, cells=cells)


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


# ----- what runs: the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One unit the driver runs: a notebook cell (its code, or what its magic means) or an injected cell."""

    label: str  # "cell 3", "parameters (injected after cell 2)"
    code: str


@dataclass
class NotebookPlan:
    notebook: Notebook
    steps: list[Step] = field(default_factory=list)
    conf: dict[str, str] = field(default_factory=dict)  # from %%configure
    jars: list[str] = field(default_factory=list)  # %%configure `jars` / conf spark.jars, added to the connector's
    py_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_notebook(notebook: Notebook, parameters: Mapping[str, ParameterValue], bootstrap: str) -> NotebookPlan:
    """The notebook's code cells in order, with its magics turned into code or conf (or refused), the
    parameters cell injected, and the empty-broker rule applied. Pure: the unit tests drive it."""
    plan = NotebookPlan(notebook)
    tagged = next((c for c in notebook.cells if c.kind == "code" and "parameters" in c.tags), None)
    injected = _parameters_step(notebook, parameters, tagged)
    code_seen = False
    pending_parameters = bool(parameters) and tagged is None
    for cell in notebook.cells:
        if cell.kind != "code":
            continue
        if not cell.source.strip():
            if cell is tagged and parameters:
                plan.steps.append(injected)
            continue
        magic, args, body = _magic(cell.source)
        if magic == "configure":
            if code_seen:
                raise _refused(notebook, cell, "%%configure", "it comes after code: in a Livy session it restarts the session and loses "
                               "what the cells before it defined", "move the %%configure cell to the top of the notebook")
            _configure(plan, cell, body)
            continue
        if pending_parameters:  # papermill's rule: no cell tagged `parameters` puts them at the top
            plan.steps.append(injected)
            plan.notes.append(f"{notebook.name}: no cell is tagged `parameters`, so the parameters were assigned before cell {cell.number}")
            pending_parameters = False
        code_seen = True
        plan.steps.append(Step(f"cell {cell.number}", _cell_code(notebook, cell, magic, args, body)))
        if cell is tagged and parameters:
            plan.steps.append(injected)
        if magic is None:
            _fill_empty_brokers(plan, cell, parameters, bootstrap, before_parameters=tagged is not None and cell.number <= tagged.number)
    if pending_parameters:
        plan.steps.append(injected)
    if parameters:
        plan.notes.append(f"{notebook.name}: parameters {', '.join(sorted(parameters))} assigned in a cell injected "
                          + (f"after cell {tagged.number} (tagged `parameters`)" if tagged else "at the top"))
    return plan


def _magic(source: str) -> tuple[str | None, list[str], str]:
    """A cell magic (`%%name args` on the cell's first line): its name, arguments and body."""
    stripped = source.lstrip("\n")
    first, _, body = stripped.partition("\n")
    if first.startswith("%%"):
        words = first[2:].split()
        return (words[0] if words else ""), words[1:], body
    if first.startswith("%"):
        words = first[1:].split()
        return "%" + (words[0] if words else ""), words[1:], body
    return None, [], source


def _refused(notebook: Notebook, cell: Cell, magic: str, why: str, hint: str) -> ConfigError:
    return ConfigError(f"{notebook.path}: cell {cell.number}: {magic} cannot run in the harness: {why}", hint=hint)


def _cell_code(notebook: Notebook, cell: Cell, magic: str | None, args: list[str], body: str) -> str:
    """The code a cell runs: its own, or what its magic means in the notebook's language."""
    scala = notebook.language == "scala"
    if magic is None:
        return cell.source
    if magic == "sql":
        rows, quiet = _sql_options(notebook, cell, args)
        query = scala_string(body) if scala else repr(body)
        if quiet:
            return f"spark.sql({query})" + ("" if scala else "\nNone")
        return f"spark.sql({query}).show({rows}, false)" if scala else f"spark.sql({query}).show({rows}, truncate=False)"
    if magic == "info":
        return ('println(s"Spark ${spark.version}, application ${sc.applicationId} on ${sc.master}")' if scala
                else 'print(f"Spark {spark.version}, application {sc.applicationId} on {sc.master}")')
    shown = f"%%{magic}" if not magic.startswith("%") else magic
    why = _REFUSED_MAGICS.get(magic, "the harness knows no meaning for it outside a Jupyter server")
    raise _refused(notebook, cell, shown, why, "remove the magic (or the cell), or put what it should do into plain code")


def _sql_options(notebook: Notebook, cell: Cell, args: list[str]) -> tuple[int, bool]:
    """%%sql's `-n MAXROWS` and `-q`; options that send results to the Jupyter server (-o, -m, -r) are refused."""
    rows, quiet, i = SQL_MAX_ROWS, False, 0
    while i < len(args):
        if args[i] == "-q":
            quiet = True
        elif args[i] == "-n" and i + 1 < len(args) and args[i + 1].lstrip("-").isdigit():
            rows = int(args[i + 1])
            rows = rows if rows >= 0 else 2**31 - 1
            i += 1
        else:
            raise _refused(notebook, cell, f"%%sql {args[i]}", "the option sends or samples results in the Jupyter server",
                           "keep only -n MAXROWS or -q")
        i += 1
    return rows, quiet


def _configure(plan: NotebookPlan, cell: Cell, body: str) -> None:
    """%%configure's Livy session settings as the driver's Spark conf; the packages entry is replaced by
    the pinned connector (nothing downloads at run time), every change said in a note."""
    notebook = plan.notebook
    try:
        settings = json.loads(body or "{}")
        if not isinstance(settings, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise ConfigError(f"{notebook.path}: cell {cell.number}: %%configure's body is not a JSON object of Livy session settings ({exc})",
                          hint='write e.g. {"conf": {"spark.sql.shuffle.partitions": "4"}}') from None
    applied: list[str] = []
    for key, value in settings.items():
        if key == "conf":
            if not isinstance(value, dict):
                raise ConfigError(f"{notebook.path}: cell {cell.number}: %%configure `conf` is not an object", hint='write "conf": {"key": "value"}')
            for name, setting in value.items():
                _configure_conf(plan, cell, str(name), str(setting), applied)
        elif key == "jars":
            plan.jars.extend(_listed(value))
            applied.append("jars")
        elif key == "pyFiles":
            plan.py_files.extend(_listed(value))
            applied.append("pyFiles")
        elif key in _LIVY_SETTINGS:
            plan.conf[_LIVY_SETTINGS[key]] = ",".join(_listed(value)) if isinstance(value, list) else str(value)
            applied.append(f"{key} (as {_LIVY_SETTINGS[key]})")
        elif key in _LIVY_IGNORED:
            plan.notes.append(f"{notebook.name} cell {cell.number}: %%configure `{key}` not applied: {_LIVY_IGNORED[key]}")
        else:
            known = ", ".join(sorted({"conf", "jars", "pyFiles", *_LIVY_SETTINGS, *_LIVY_IGNORED}))
            raise ConfigError(f"{notebook.path}: cell {cell.number}: %%configure has the setting {key!r}, which Livy does not know",
                              hint=f"Livy's session settings are {known}")
    if applied:
        plan.notes.append(f"{notebook.name} cell {cell.number}: %%configure applied to the driver: {', '.join(applied)}")


def _configure_conf(plan: NotebookPlan, cell: Cell, name: str, value: str, applied: list[str]) -> None:
    if name in _REPLACED_CONF:
        plan.notes.append(f"{plan.notebook.name} cell {cell.number}: %%configure {name}={value} replaced by the harness's pinned "
                          "spark-sql-kafka connector jars (spark.jars): nothing is downloaded at run time")
    elif name == "spark.jars":
        plan.jars.extend(_listed(value))
        applied.append("spark.jars (after the connector's)")
    elif name == "spark.submit.pyFiles":
        plan.py_files.extend(_listed(value))
        applied.append(name)
    else:
        plan.conf[name] = value
        applied.append(name)


def _listed(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _parameters_step(notebook: Notebook, parameters: Mapping[str, ParameterValue], tagged: Cell | None) -> Step:
    for name in parameters:
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"job.notebook.parameters: {name!r} is not a variable name", hint="use letters, digits and _ (not first)")
    lines = [assignment(notebook.language, name, value) for name, value in parameters.items()]
    where = f"after cell {tagged.number}" if tagged else "at the top"
    return Step(f"parameters (injected {where})", "\n".join(lines))


def assignment(language: Language, name: str, value: ParameterValue, keyword: str = "val") -> str:
    """`name = value` in the notebook's language (Scala: a new `val`, which shadows the earlier one as a
    REPL line does)."""
    if language == "python":
        return f"{name} = {value!r}"
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, (int, float)):
        literal = repr(value)
    else:
        literal = scala_string(value)
    return f"{keyword} {name} = {literal}"


def _fill_empty_brokers(plan: NotebookPlan, cell: Cell, parameters: Mapping[str, ParameterValue], bootstrap: str, *,
                        before_parameters: bool) -> None:
    """The empty-broker rule (see the module's doc): an empty broker address gets the twin's, in a cell after it."""
    pattern = _SCALA_EMPTY if plan.notebook.language == "scala" else _PYTHON_EMPTY
    for match in pattern.finditer(cell.source):
        name = match.group("name")
        if not _BROKER_NAME.match(name) or (name in parameters and before_parameters):
            continue
        keyword = match.groupdict().get("kw") or "val"
        plan.steps.append(Step(f"the twin's brokers (injected after cell {cell.number})", assignment(plan.notebook.language, name, bootstrap, keyword)))
        plan.notes.append(f"{plan.notebook.name} cell {cell.number} leaves the broker address `{name}` empty: the harness set it to the "
                          f"twin's brokers ({bootstrap}) in a cell after it")


def scala_string(text: str) -> str:
    """A Scala string literal of `text`: only ASCII in the script (the shell reads it in the platform's charset)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif 32 <= code < 127:
            out.append(char)
        else:
            units = char.encode("utf-16-be")
            out.extend(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))
    out.append('"')
    return "".join(out)


# ----- the script ---------------------------------------------------------------------------------


def render_script(plan: NotebookPlan, *, workdir: Path, memory_tables: list[str]) -> str:
    """The driver script: the kernel's predefined names, every step in order (each announced with a
    marker line so an error names its cell), and the epilogue that keeps the driver up until the stop file."""
    if plan.notebook.language == "scala":
        return _render_scala(plan, workdir, memory_tables)
    return _render_python(plan, workdir, memory_tables)


def _source_comment(step: Step, prefix: str) -> list[str]:
    return [f"{prefix} ----- {step.label}", *(f"{prefix} | {line}" for line in step.code.splitlines())]


def _render_python(plan: NotebookPlan, workdir: Path, memory_tables: list[str]) -> str:
    name = plan.notebook.name
    lines = [
        f"# {name}, generated by kafka-spark-harness: each cell compiled and run on its own in one namespace, as a kernel runs it.",
        "import ast, json, sys, traceback",
        "from pathlib import Path",
        "from pyspark.sql import SparkSession",
        "",
        f"NOTEBOOK, WORKDIR, MEMORY_TABLES = {name!r}, Path({str(workdir.resolve())!r}), {memory_tables!r}",
        "spark = SparkSession.builder.getOrCreate()  # what pysparkkernel predefines",
        "sc = spark.sparkContext",
        "namespace = {'spark': spark, 'sc': sc, '__name__': '__main__'}",
        "",
        "",
        "def run_cell(label, code):",
        f"    print(f'{MARKER} {{NOTEBOOK}}: {{label}}', flush=True)",
        "    try:",
        "        tree = ast.parse(code, filename=f'{NOTEBOOK} {label}')",
        "        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None",
        "        exec(compile(tree, f'{NOTEBOOK} {label}', 'exec'), namespace)",
        "        if last is not None:  # a kernel shows the value of the cell's last expression",
        "            value = eval(compile(ast.Expression(last.value), f'{NOTEBOOK} {label}', 'eval'), namespace)",
        "            if value is not None:",
        "                print(repr(value), flush=True)",
        "    except BaseException:",
        "        traceback.print_exc()",
        f"        print(f'{MARKER} {{NOTEBOOK}}: {{label}} failed', flush=True)",
        "        sys.exit(1)",
        "",
        "",
    ]
    for step in plan.steps:
        lines += [*_source_comment(step, "#"), f"run_cell({step.label!r}, {step.code!r})", ""]
    lines += [
        "# The last cell returned while the notebook's queries run on: keep the driver up until the harness asks it to stop.",
        "stop = WORKDIR / " + repr(STOP_FILE),
        "while not stop.exists():",
        "    try:",
        "        spark.streams.awaitAnyTermination(0.5)",
        "    except Exception:",
        "        traceback.print_exc()",
        f"        print(f'{MARKER} {{NOTEBOOK}}: a streaming query failed', flush=True)",
        "        sys.exit(1)",
        "    spark.streams.resetTerminated()",
        "for query in spark.streams.active:",
        "    query.stop()",
        f"(WORKDIR / {MEMORY_DIR!r}).mkdir(parents=True, exist_ok=True)",
        "for table in MEMORY_TABLES:",
        f"    target = WORKDIR / {MEMORY_DIR!r} / f'{{table}}.jsonl'",
        "    try:",
        "        rows = spark.table(table).toJSON().collect()",
        "    except Exception as exc:",
        "        target.with_suffix('.error').write_text(str(exc))",
        "        continue",
        "    target.with_suffix('.tmp').write_text(''.join(row + '\\n' for row in rows))",
        "    target.with_suffix('.tmp').replace(target)",
        f"print(f'{MARKER} {{NOTEBOOK}}: stopped', flush=True)",
        "spark.stop()",
    ]
    return "\n".join(lines) + "\n"


def _render_scala(plan: NotebookPlan, workdir: Path, memory_tables: list[str]) -> str:
    """Loaded by `spark-shell -i`: each statement on one line, so the shell's line reader never waits for more.
    Each step goes through the shell's own interpreter (`$intp`), which says whether the cell compiled and ran."""
    name = plan.notebook.name
    lines = [f"// {name}, generated by kafka-spark-harness: each cell compiled and run as one unit, as Livy's Scala interpreter runs it."]
    for step in plan.steps:
        lines += _source_comment(step, "//")
    steps = ", ".join(f"({scala_string(s.label)}, {scala_string(s.code)})" for s in plan.steps)
    tables = ", ".join(scala_string(t) for t in memory_tables)
    stop = workdir.resolve() / STOP_FILE
    memory = workdir.resolve() / MEMORY_DIR
    lines += [
        f"val harnessNotebook = {scala_string(name)}",
        f"val harnessSteps: Seq[(String, String)] = Seq({steps})",
        f'def harnessRun(label: String, code: String): Unit = {{ println(s"{MARKER} $harnessNotebook: $label"); '
        "val result = $intp.interpret(code); "
        f'if (result != scala.tools.nsc.interpreter.Results.Success) {{ println(s"{MARKER} $harnessNotebook: $label failed ($result)"); '
        "System.out.flush(); sys.exit(1) } }",
        "harnessSteps.foreach { case (label, code) => harnessRun(label, code) }",
        f"val harnessStop = new java.io.File({scala_string(str(stop))})",
        "while (!harnessStop.exists) { try { spark.streams.awaitAnyTermination(500) } catch { case e: Throwable => e.printStackTrace(); "
        f'println(s"{MARKER} $harnessNotebook: a streaming query failed"); System.out.flush(); sys.exit(1) }}; spark.streams.resetTerminated() }}',
        "spark.streams.active.foreach(_.stop())",
        f"val harnessMemory = java.nio.file.Paths.get({scala_string(str(memory))}); java.nio.file.Files.createDirectories(harnessMemory)",
        "def harnessDump(table: String): Unit = { val target = harnessMemory.resolve(table + \".jsonl\"); val tmp = harnessMemory.resolve(table + \".tmp\"); "
        "try { val rows = spark.table(table).toJSON.collect(); java.nio.file.Files.write(tmp, rows.map(_ + \"\\n\").mkString.getBytes(\"UTF-8\")); "
        "java.nio.file.Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING) } "
        "catch { case e: Throwable => java.nio.file.Files.write(harnessMemory.resolve(table + \".error\"), String.valueOf(e.getMessage).getBytes(\"UTF-8\")) } }",
        f"Seq[String]({tables}).foreach(harnessDump)",
        f'println(s"{MARKER} $harnessNotebook: stopped"); System.out.flush(); sys.exit(0)',
    ]
    return "\n".join(lines) + "\n"


def failed_step(log_text: str, notebook: str) -> str | None:
    """The step the driver's log says failed (`[harness] notebook NAME: cell N failed`), if any."""
    found = re.findall(rf"^{re.escape(MARKER)} {re.escape(notebook)}: (.+) failed\b.*$", log_text, re.M)
    return found[-1] if found else None


# ----- the memory table ---------------------------------------------------------------------------


def memory_rows(workdir: Path, table: str, notebook: str, *, complete: bool) -> SinkRows:
    """The memory table the driver dumped when it stopped, as one sink entry (in complete mode it holds the
    last complete table, in append mode every row appended). The table records no arrival times, so no
    latency is derived from it (`emitted_ms` empty). A table that could not be dumped is a note, and no rows."""
    target = workdir / MEMORY_DIR / f"{table}.jsonl"
    result = SinkRows(emitted_ms={})
    if not target.is_file():
        error = target.with_suffix(".error")
        why = error.read_text(errors="replace").strip() if error.is_file() else "the driver did not reach its stop step (see application.log)"
        result.notes.append(f"the memory table {table} of {notebook} could not be read back: {why}")
        return result
    rows = [normal_row(json.loads(line)) for line in target.read_text(encoding="utf-8").splitlines() if line.strip()]
    result.outputs[0] = rows
    result.notes.append(f"the memory table {table} of {notebook}: {len(rows)} rows read when the notebook stopped"
                        + (" (complete mode: the last complete table)" if complete else "")
                        + "; a memory table records no arrival times, so no event-to-result latency")
    return result


# ----- launch and the job handle ------------------------------------------------------------------


class NotebookLaunch(Submission):
    """The notebook's driver against the twin: `spark-submit script.py` for PySpark, `spark-shell -i
    script.scala` for Scala, with the conf `Submission` gives (the harness's, the event log's, the twin's),
    then %%configure's and `job.notebook.conf`."""

    section = "job.notebook"
    node_entry = "harness.jobs.notebook"

    def __init__(self, spec: NotebookSpec, language: Language, *, script: Path, bootstrap: str, topic: str, workdir: Path, master: str,
                 memory_mb: int, conf: Mapping[str, str] | None = None, node: DriverLauncher | None = None,
                 release: str = DEFAULT_RELEASE, client_properties: Mapping[str, str] | None = None) -> None:
        app = ApplicationSpec(file=str(script), conf=dict(spec.conf)) if language == "python" else \
            ApplicationSpec.model_construct(file=str(script), main_class=None, args=(), conf=dict(spec.conf), py_files=())
        super().__init__(app, bootstrap=bootstrap, topic=topic, workdir=workdir, master=master, memory_mb=memory_mb, conf=conf, node=node,
                         release=release, client_properties=client_properties)
        self.spec, self.language, self.script = spec, language, script

    def node_config(self, shipped: ApplicationSpec) -> dict[str, Any]:
        """The application's, and which notebook in which language: the node runs spark-shell for Scala."""
        return {**super().node_config(shipped), "notebook": self.spec.model_dump(mode="json"), "language": self.language}

    @classmethod
    def from_config(cls, path: Path) -> NotebookLaunch:
        data = json.loads(path.read_text())
        return cls(NotebookSpec.model_validate(data["notebook"]), data["language"], script=Path(data["application"]["file"]),
                   bootstrap=data["bootstrap"], topic=data["topic"], workdir=Path(data["workdir"]), master=data["master"],
                   memory_mb=data["memory_mb"], conf=data["conf"], release=data.get("release", DEFAULT_RELEASE))

    def argv(self) -> list[str]:
        argv = super().argv()
        if self.language == "python" or self.node is not None:  # on a node, the node's own launch makes it spark-shell
            return argv
        shell = Path(argv[0]).with_name("spark-shell")
        options = argv[1:argv.index(str(self.script.resolve()))]
        return [str(shell), *options, "-i", str(self.script.resolve())]


class NotebookJob(SubmittedApplication):
    """The job handle of a notebook: its driver started like a submitted application (progress from Spark's
    event log, batches from it and the checkpoint), stopped through the stop file so it can dump its memory
    tables, and read back from its memory table or its console output."""

    def __init__(self, bootstrap: str, topic: str, spec: JobSpec, workdir: Path, *, master: str, cores: int, memory_mb: int,
                 conf: Mapping[str, str] | None = None, node: DriverLauncher | None = None, app_bootstrap: str | None = None,
                 release: str = DEFAULT_RELEASE, client_properties: Mapping[str, str] | None = None) -> None:
        """With a `node` (the docker backend's Spark head node) the driver runs there and the notebook
        gets `app_bootstrap`, the brokers as the VNet names them; the harness reads back through `bootstrap`.
        `client_properties` (a secured twin's client settings) is the 0600 file a `{client_properties}` parameter names."""
        assert spec.notebook is not None and spec.output is not None
        notebook = load_notebook(Path(spec.notebook.file))
        workdir.mkdir(parents=True, exist_ok=True)
        script = workdir / ("notebook.scala" if notebook.language == "scala" else "notebook.py")
        master = master if master and not master.startswith("local") else f"local[{cores}]"
        launch = NotebookLaunch(spec.notebook, notebook.language, script=script, bootstrap=app_bootstrap or bootstrap, topic=topic,
                                workdir=workdir, master=master, memory_mb=memory_mb, conf=conf, node=node, release=release,
                                client_properties=client_properties)
        parameters = {k: launch.fill(v, f"parameters.{k}") if isinstance(v, str) else v for k, v in spec.notebook.parameters.items()}
        plan = plan_notebook(notebook, parameters, app_bootstrap or bootstrap)
        tables = [spec.output.memory_table] if spec.output.memory_table else []
        script.write_text(render_script(plan, workdir=workdir, memory_tables=tables), encoding="utf-8")
        launch.extra_conf.update(plan.conf)
        if plan.jars:  # after the connector's jars, which the harness supplies
            launch.extra_conf["spark.jars"] = ",".join([harness_conf(bootstrap, memory_mb, release)["spark.jars"], *plan.jars])
        if plan.py_files:
            launch.extra_conf["spark.submit.pyFiles"] = ",".join(plan.py_files)
        sink = None
        if spec.output.memory_table:
            table, complete = spec.output.memory_table, spec.output_mode == "complete"
            sink = lambda: memory_rows(workdir, table, notebook.name, complete=complete)  # noqa: E731
        super().__init__(bootstrap, topic, spec, workdir, master=master, cores=cores, memory_mb=memory_mb, submission=launch, sink=sink,
                         node=node, app_bootstrap=app_bootstrap, release=release)
        self.notebook, self.plan = notebook, plan
        self.name = f"{notebook.path} ({notebook.kernel})"

    def start(self) -> None:
        (self.workdir / STOP_FILE).unlink(missing_ok=True)
        super().start()

    def wait_started(self, timeout: float = 240.0, *, stalled: Callable[[], str | None] | None = None) -> None:
        """Until the notebook's query has reported its first progress (a batch, or Spark's idle report): its
        cells have all run and it is live before data flows, as the harness's own job is. A shell that
        compiles each cell starts slower than a submitted script, hence the longer time-out. (This replaces the
        application's wait for any first batch: a notebook's progress is that of the query reading the topic.)"""
        wait_job_started(lambda: bool(self._progress()), stalled, what=f"the first progress of the notebook {self.notebook.name}'s query",
                         timeout=timeout, guard=self._check_alive, log=self.log)

    def stop(self) -> JobHistory:
        """The stop file first: the driver dumps its memory tables, stops its queries and exits by itself
        (SubmittedApplication.stop's SIGTERM is the fallback)."""
        (self.workdir / STOP_FILE).write_text("stop\n")
        record = self.record
        if record is not None:
            try:
                wait_for(lambda: not processes.is_alive(record), what=f"the notebook {self.notebook.name} to stop", timeout=90, interval=0.2)
            except NotReadyError:
                pass  # it did not stop by itself: SubmittedApplication.stop terminates it
        history = super().stop()
        history.sink_notes = [*self.plan.notes, *history.sink_notes, *self._console_total()]
        return history

    def _console_total(self) -> list[str]:
        """How many rows exist beside how many the console showed: each batch's progress (in Spark's event
        log) counts the rows it wrote to the sink."""
        if self.output.kind != "console":
            return []
        written = {int(p["batchId"]): int((p.get("sink") or {}).get("numOutputRows", -1)) for p in self._progress() if is_executed(p)}
        if not written or min(written.values()) < 0:
            return []
        return [f"Spark's progress says the console sink was given {sum(written.values())} rows in {len(written)} batches "
                "(each batch's sink numOutputRows)"]

    def _check_alive(self) -> None:
        """A notebook whose driver exits by itself fails the run, naming the cell that failed."""
        try:
            super()._check_alive()
        except HarnessError as exc:
            text = self.log.read_text(errors="replace") if self.log.is_file() else ""
            step = failed_step(text, self.notebook.name)
            if step is not None:
                raise HarnessError(f"the notebook {self.notebook.path} failed in {step}", detail=exc.detail,
                                   hint=f"the lines before '{MARKER} {self.notebook.name}: {step} failed' in {self.log} are its error") from None
            raise


if __name__ == "__main__":  # on a node of the twin: the notebook's driver, built there (`Submission._on_node`)
    from harness.jobs.application import main

    main(sys.argv[1], NotebookLaunch)
