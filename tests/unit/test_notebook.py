"""A notebook turned into the script its kernel would run, and the console sink read back, without running Spark."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.jobs.console_sink import cell_value, console_rows, printed_batches
from harness.jobs.notebook import (NotebookJob, failed_step, load_notebook, memory_rows, plan_notebook, render_script, scala_string)
from harness.jobs.spec import JobSpec
from tests.conftest import REPO

TWIN = "127.0.0.2:9092,127.0.0.3:9092"


def write_notebook(path: Path, kernel: str, *cells: str | tuple[str, list[str]], markdown_first: bool = True) -> Path:
    """A .ipynb with a markdown cell first (so cell numbers count it, as a reader does), then the code cells."""
    raw = [{"cell_type": "markdown", "metadata": {}, "source": ["# title\n"]}] if markdown_first else []
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        raw.append({"cell_type": "code", "metadata": {"tags": tags}, "source": source.splitlines(keepends=True), "outputs": [], "execution_count": None})
    path.write_text(json.dumps({"cells": raw, "metadata": {"kernelspec": {"name": kernel}}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def plan(tmp_path: Path, kernel: str, *cells: str | tuple[str, list[str]], parameters: dict | None = None):  # noqa: ANN201
    return plan_notebook(load_notebook(write_notebook(tmp_path / "nb.ipynb", kernel, *cells)), parameters or {}, TWIN)


# ----- kernels and magics --------------------------------------------------------------------------


def test_the_example_notebooks_declare_hdinsights_kernels() -> None:
    scala = load_notebook(REPO / "examples" / "notebooks" / "stock-ticker-scala.ipynb")
    pyspark = load_notebook(REPO / "examples" / "notebooks" / "stock-ticker-pyspark.ipynb")
    assert (scala.kernel, scala.language) == ("sparkkernel", "scala")
    assert (pyspark.kernel, pyspark.language) == ("pysparkkernel", "python")


def test_a_kernel_the_harness_cannot_run_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_notebook(write_notebook(tmp_path / "r.ipynb", "ir", "1 + 1"))
    assert "r.ipynb" in str(error.value) and "'ir'" in str(error.value) and "sparkkernel" in str(error.value)


def test_configure_becomes_the_drivers_conf_and_its_packages_are_replaced_by_the_pinned_connector(tmp_path: Path) -> None:
    configure = textwrap.dedent("""\
        %%configure -f
        {"conf": {"spark.jars.packages": "org.apache.spark:spark-sql-kafka-0-10_2.11:2.2.0", "spark.sql.shuffle.partitions": "3",
                  "spark.jars": "/opt/extra.jar"},
         "driverMemory": "900m", "queue": "default"}""")
    result = plan(tmp_path, "sparkkernel", configure, "val x = 1")
    assert result.conf == {"spark.sql.shuffle.partitions": "3", "spark.driver.memory": "900m"}
    assert result.jars == ["/opt/extra.jar"]
    assert [s.label for s in result.steps] == ["cell 3"]  # %%configure runs no code
    notes = "\n".join(result.notes)
    assert "cell 2: %%configure spark.jars.packages=org.apache.spark:spark-sql-kafka-0-10_2.11:2.2.0 replaced by the harness's pinned" in notes
    assert "`queue` not applied" in notes and "driverMemory (as spark.driver.memory)" in notes


def test_configure_after_code_and_unknown_livy_settings_are_refused_naming_the_cell(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as late:
        plan(tmp_path, "sparkkernel", "val x = 1", '%%configure -f\n{"conf": {}}')
    assert "nb.ipynb: cell 3: %%configure" in str(late.value) and "top" in str(late.value.hint)
    with pytest.raises(ConfigError) as unknown:
        plan(tmp_path, "pysparkkernel", '%%configure\n{"driverMemroy": "1g"}')
    assert "cell 2" in str(unknown.value) and "'driverMemroy'" in str(unknown.value) and "driverMemory" in str(unknown.value.hint)


@pytest.mark.parametrize("magic", ["%%local", "%%cleanup -f", "%%send_to_spark -i df -t df", "%%matplot plt", "%matplotlib inline"])
def test_a_magic_without_meaning_here_is_refused_with_the_file_the_cell_and_the_magic(tmp_path: Path, magic: str) -> None:
    with pytest.raises(ConfigError) as error:
        plan(tmp_path, "pysparkkernel", "x = 1", f"{magic}\nprint(1)")
    message = str(error.value)
    assert "nb.ipynb: cell 3: " in message and magic.split()[0] in message


def test_sql_runs_the_query_and_shows_it_and_info_shows_the_session(tmp_path: Path) -> None:
    scala = plan(tmp_path, "sparkkernel", '%%sql -n 5\nSELECT "a" FROM t', "%%info")
    assert scala.steps[0].code == 'spark.sql("SELECT \\"a\\" FROM t").show(5, false)' and "sc.applicationId" in scala.steps[1].code
    python = plan(tmp_path, "pysparkkernel", "%%sql\nSELECT 1")
    assert python.steps[0].code == "spark.sql('SELECT 1').show(2500, truncate=False)"
    with pytest.raises(ConfigError) as error:
        plan(tmp_path, "pysparkkernel", "%%sql -o local_df\nSELECT 1")
    assert "cell 2: %%sql -o" in str(error.value)


# ----- parameters and the empty-broker rule --------------------------------------------------------


def test_parameters_are_assigned_in_a_cell_injected_after_the_tagged_one(tmp_path: Path) -> None:
    result = plan(tmp_path, "pysparkkernel", "import os", ('bootstrap = ""\nwrong = False', ["parameters"]), "print(wrong)",
                  parameters={"bootstrap": "b:9092", "wrong": True, "n": 3})
    assert [s.label for s in result.steps] == ["cell 2", "cell 3", "parameters (injected after cell 3)", "cell 4"]
    assert result.steps[2].code == "bootstrap = 'b:9092'\nwrong = True\nn = 3"
    assert not any("broker address" in n for n in result.notes)  # the parameter fills it: no second cell
    scala = plan(tmp_path, "sparkkernel", ('val wrong = false', ["parameters"]), parameters={"wrong": True, "name": 'a "b"', "x": 1.5})
    assert scala.steps[1].code == 'val wrong = true\nval name = "a \\"b\\""\nval x = 1.5'


def test_without_a_tagged_cell_parameters_go_to_the_top_after_configure(tmp_path: Path) -> None:
    result = plan(tmp_path, "pysparkkernel", '%%configure\n{"conf": {}}', "print(x)", parameters={"x": 1})
    assert [s.label for s in result.steps] == ["parameters (injected at the top)", "cell 3"]
    assert any("no cell is tagged `parameters`" in n for n in result.notes)
    assert [s.label for s in plan(tmp_path, "pysparkkernel", ("", ["parameters"]), "print(1)").steps] == ["cell 3"]  # nothing to inject


def test_an_empty_broker_address_gets_the_twins_in_a_cell_after_it(tmp_path: Path) -> None:
    result = plan(tmp_path, "sparkkernel", 'val kafkaBrokers = ""', 'val topic = ""\nvar bootstrapServers: String = ""  // fill in')
    assert [(s.label, s.code) for s in result.steps] == [
        ("cell 2", 'val kafkaBrokers = ""'), ("the twin's brokers (injected after cell 2)", f'val kafkaBrokers = "{TWIN}"'),
        ("cell 3", 'val topic = ""\nvar bootstrapServers: String = ""  // fill in'),
        ("the twin's brokers (injected after cell 3)", f'var bootstrapServers = "{TWIN}"'),
    ]  # `topic` is not a broker address: left as it is
    assert sum("leaves the broker address" in n for n in result.notes) == 2
    python = plan(tmp_path, "pysparkkernel", ('brokers = ""', ["parameters"]))
    assert python.steps[-1].code == f"brokers = {TWIN!r}" and "cell 2 leaves the broker address `brokers` empty" in python.notes[0]


def test_scala_strings_keep_quotes_newlines_and_non_ascii_text() -> None:
    assert scala_string('a"b\\c\nd\té€😀') == '"a\\"b\\\\c\\nd\\t\\u00e9\\u20ac\\ud83d\\ude00"'


# ----- the generated script ------------------------------------------------------------------------


def test_the_scala_script_runs_every_step_through_the_shells_interpreter_then_waits_for_the_stop_file(tmp_path: Path) -> None:
    result = plan(tmp_path, "sparkkernel", 'val kafkaBrokers = ""', "println(kafkaBrokers)")
    script = render_script(result, workdir=tmp_path, memory_tables=["stockWindows"])
    body = [line for line in script.splitlines() if not line.startswith("//")]
    assert all(line.count('"') % 2 == 0 for line in body)  # every statement on one line: the shell never waits for more input
    assert '("cell 2", "val kafkaBrokers = \\"\\"")' in script and "$intp.interpret(code)" in script
    assert script.index('"cell 3"') > script.index("the twin's brokers (injected after cell 2)")
    assert str(tmp_path.resolve() / "stop") in script and 'Seq[String]("stockWindows").foreach(harnessDump)' in script


FAKE_PYSPARK = '''
class _Streams:
    active = []
    def awaitAnyTermination(self, timeout):
        import pathlib, time
        pathlib.Path(STOP).write_text("stop")  # the harness asks it to stop at once
    def resetTerminated(self):
        pass
class _Table:
    def toJSON(self):
        return self
    def collect(self):
        return ['{"symbol":"MSFT","window":{"start":"2023-11-14T22:13:20.000Z","end":"2023-11-14T22:13:24.000Z"},"high":2.5}']
class _Session:
    streams = _Streams()
    sparkContext = "sc"
    version = "fake"
    def table(self, name):
        return _Table()
    def stop(self):
        print("session stopped")
class _Builder:
    def getOrCreate(self):
        return _Session()
class SparkSession:
    builder = _Builder()
'''


def run_python_script(tmp_path: Path, *cells: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The generated script with a stand-in `pyspark.sql` (only the script's own control flow is under test)."""
    fake = tmp_path / "fake" / "pyspark"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "sql.py").write_text(f"STOP = {str(tmp_path / 'stop')!r}\n" + FAKE_PYSPARK)
    result = plan(tmp_path, "pysparkkernel", *cells)
    script = tmp_path / "notebook.py"
    script.write_text(render_script(result, workdir=tmp_path, memory_tables=["stockWindows"]))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path / "fake")}, timeout=60)
    return done, script


def test_the_python_script_runs_cells_in_one_namespace_shows_the_last_value_and_dumps_the_memory_table(tmp_path: Path) -> None:
    done, _ = run_python_script(tmp_path, "x = 41", "x + 1", "print(spark.version, sc)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[harness] notebook nb.ipynb: cell 2", "[harness] notebook nb.ipynb: cell 3", "42",
                                        "[harness] notebook nb.ipynb: cell 4", "fake sc", "[harness] notebook nb.ipynb: stopped", "session stopped"]
    rows = memory_rows(tmp_path, "stockWindows", "nb.ipynb", complete=True)
    assert rows.outputs == {0: [{"symbol": "MSFT", "high": 2.5, "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_004_000}]}
    assert rows.emitted_ms == {} and "complete mode: the last complete table" in rows.notes[0]


def test_a_failing_cell_stops_the_script_and_its_number_is_in_the_log(tmp_path: Path) -> None:
    done, _ = run_python_script(tmp_path, "x = 1", "raise ValueError('no such topic')", "print('never')")
    assert done.returncode == 1 and "never" not in done.stdout
    assert "ValueError: no such topic" in done.stderr and 'File "nb.ipynb cell 3"' in done.stderr
    assert failed_step(done.stdout, "nb.ipynb") == "cell 3"
    syntax, _ = run_python_script(tmp_path / "syntax", "x = (")
    assert syntax.returncode == 1 and failed_step(syntax.stdout, "nb.ipynb") == "cell 2" and "SyntaxError" in syntax.stderr


def test_a_memory_table_that_was_not_dumped_is_a_note_not_an_error(tmp_path: Path) -> None:
    rows = memory_rows(tmp_path, "stockWindows", "nb.ipynb", complete=False)
    assert rows.outputs == {} and "could not be read back" in rows.notes[0]
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "stockWindows.error").write_text("Table or view not found: stockWindows")
    assert "Table or view not found" in memory_rows(tmp_path, "stockWindows", "nb.ipynb", complete=False).notes[0]


def test_the_scala_notebook_runs_in_spark_shell_with_its_configure_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    spec = JobSpec.model_validate({"notebook": "examples/notebooks/stock-ticker-scala.ipynb", "output": {"memory_table": "stockWindows"},
                                   "watermark": None, "output_mode": "complete"})
    job = NotebookJob("127.0.0.1:9092", "stockVals", spec, tmp_path, master="local[2]", cores=2, memory_mb=768)
    argv = job.argv()
    assert Path(argv[0]).name == "spark-shell" and argv[-2:] == ["-i", str((tmp_path / "notebook.scala").resolve())]
    confs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    assert confs["spark.sql.shuffle.partitions"] == "4" and confs["spark.eventLog.enabled"] == "true"
    assert "spark.jars.packages" not in confs and "spark-sql-kafka" in confs["spark.jars"]
    assert 'val kafkaBrokers = \\"127.0.0.1:9092\\"' in (tmp_path / "notebook.scala").read_text()


def test_an_unknown_placeholder_in_a_parameter_names_the_parameter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    spec = JobSpec.model_validate({"notebook": {"file": "examples/notebooks/stock-ticker-pyspark.ipynb", "parameters": {"checkpoint": "{chekpoint}"}},
                                   "output": {"console": True}})
    with pytest.raises(ConfigError) as error:
        NotebookJob("127.0.0.1:9092", "stockVals", spec, tmp_path, master="local[2]", cores=2, memory_mb=768)
    assert "job.notebook.parameters.checkpoint" in str(error.value) and "{checkpoint}" in str(error.value.hint)


# ----- the console sink ----------------------------------------------------------------------------

CONSOLE = """\
-------------------------------------------
Batch: 0
-------------------------------------------
+------+------+----+------+
|symbol|window|high|prices|
+------+------+----+------+
+------+------+----+------+

-------------------------------------------
Batch: 1
-------------------------------------------
18:03:35 WARN KafkaDataConsumer: a log line written while the batch prints
+------+------------------------------------------+-----+------------------+
|symbol|window                                    |high |prices            |
+------+------------------------------------------+-----+------------------+
|MSFT  |{2023-11-14 22:13:20, 2023-11-14 22:13:24}|152.5|[152.5, 1.0E-5]   |
|BA    |{2023-11-14 22:13:20, 2023-11-14 22:13:24}|NULL |[]                |
+------+------------------------------------------+-----+------------------+

-------------------------------------------
Batch: 2
-------------------------------------------
+------+--------------------+-----+-------+
|symbol|              window| high| prices|
+------+--------------------+-----+-------+
|  MSFT|{2023-11-14 22:13...|153.0|[153.0]|
|    BA|{2023-11-14 22:13...|345.0|[345.0]|
+------+--------------------+-----+-------+
only showing top 2 rows
"""


def test_console_batches_are_parsed_into_typed_rows_keyed_by_batch_id(tmp_path: Path) -> None:
    log = tmp_path / "application.log"
    log.write_text(CONSOLE)
    assert [(b.batch_id, len(b.rows), b.more) for b in printed_batches(CONSOLE)] == [(0, 0, False), (1, 2, False), (2, 2, True)]
    rows = console_rows(log)
    assert rows.outputs[0] == [] and rows.outputs[1] == [
        {"symbol": "MSFT", "high": 152.5, "prices": [152.5, 1e-05], "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_004_000},
        {"symbol": "BA", "high": None, "prices": [], "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_004_000},
    ]
    assert rows.outputs[2] == []  # both rows have a window cut to 20 characters: they cannot be compared
    assert rows.sampled
    assert rows.notes == ["the console sink showed 4 rows in 3 batches; 1 batches had more rows than they showed (batches 2: numRows, 20 unless "
                          "the job sets it), so only the rows shown are compared; 2 rows have a cell cut to 20 characters (the sink's truncate "
                          "option) and cannot be compared"]


def test_a_batch_printed_again_after_a_restart_keeps_its_last_print_and_all_rows_shown_is_not_a_sample(tmp_path: Path) -> None:
    first = CONSOLE.split("-------------------------------------------\nBatch: 2")[0]
    again = first.replace("|152.5|", "|152.7|")
    log = tmp_path / "application.log"
    log.write_text(first + again)  # batches 0 and 1 printed twice: re-run after a restart
    rows = console_rows(log)
    assert rows.outputs[1][0]["high"] == 152.7 and not rows.sampled
    assert rows.notes == ["the console sink showed 2 rows in 2 batches"]


def test_batches_of_another_query_on_the_console_are_not_read_and_said_so(tmp_path: Path) -> None:
    raw = "-" * 43 + "\nBatch: 0\n" + "-" * 43 + "\n+-----+\n|value|\n+-----+\n|  abc|\n+-----+\n\n"  # the sample's raw stream
    log = tmp_path / "application.log"
    log.write_text(raw + CONSOLE)
    rows = console_rows(log)
    assert rows.outputs[1][0]["symbol"] == "MSFT" and "1 batches of another query printed to the console (other columns) were not read" in rows.notes[0]


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("-3.5", -3.5), ("1.0E-5", 1e-05), ("NaN", float("nan")), ("NULL", None),
                                             ("MSFT", "MSFT"), ("[1, [2, 3]]", [1, [2, 3]]), ("{a, 1}", ["a", 1]),
                                             ("{2023-11-14 22:13:20.5, 2023-11-14 22:13:24}", {"start": "2023-11-14 22:13:20.5", "end": "2023-11-14 22:13:24"})])
def test_printed_cells_become_values(text: str, value: object) -> None:
    got = cell_value(text)
    assert got == value or (isinstance(value, float) and got != got)  # NaN is not equal to itself
