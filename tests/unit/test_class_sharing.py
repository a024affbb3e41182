"""Class-data-sharing archives: trained once, never half-written, a failed training remembered until retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.runtime.class_sharing import archive_folder, existing_archives, trained_archives


def _writes(*names: str, calls: list[Path]):  # noqa: ANN202
    def train(directory: Path) -> None:
        calls.append(directory)
        for name in names:
            (directory / f"{name}.jsa").write_bytes(b"archive")
    return train


def test_archives_are_trained_once_and_then_only_looked_up(tmp_path: Path) -> None:
    calls: list[Path] = []
    first = trained_archives(tmp_path, ("a", "b"), _writes("a", "b", calls=calls), "X", lambda _: None)
    again = trained_archives(tmp_path, ("a", "b"), _writes("a", "b", calls=calls), "X", lambda _: None)
    assert first == again == {"a": tmp_path / "a.jsa", "b": tmp_path / "b.jsa"}
    assert len(calls) == 1
    assert existing_archives(tmp_path, ("a", "b")) == first


def test_a_training_that_misses_an_archive_installs_none_and_is_not_repeated_until_retried(tmp_path: Path) -> None:
    calls: list[Path] = []
    said: list[str] = []
    assert trained_archives(tmp_path, ("a", "b"), _writes("a", calls=calls), "X", said.append) == {}
    assert not (tmp_path / "a.jsa").exists(), "a partial set of archives must not be installed"
    assert any("class-data sharing is off for X" in line for line in said)
    assert trained_archives(tmp_path, ("a", "b"), _writes("a", "b", calls=calls), "X", said.append) == {}
    assert len(calls) == 1, "a failed training is remembered"
    assert set(trained_archives(tmp_path, ("a", "b"), _writes("a", "b", calls=calls), "X", said.append, retry=True)) == {"a", "b"}
    assert not (tmp_path / "training-failed.txt").exists()


def test_a_training_that_raises_leaves_its_reason_beside_the_archives(tmp_path: Path) -> None:
    def fail(_: Path) -> None:
        raise HarnessError("the broker did not start", detail="log tail")

    assert trained_archives(tmp_path, ("a",), fail, "X", lambda _: None) == {}
    assert "the broker did not start" in (tmp_path / "training-failed.txt").read_text()


def test_the_folder_changes_with_the_class_path_and_the_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    other = tmp_path / "jdk2" / "bin" / "java"
    other.parent.mkdir(parents=True)
    other.write_text("")
    assert archive_folder("kafka", java, "a.jar:b.jar") == archive_folder("kafka", java, "a.jar:b.jar")
    assert archive_folder("kafka", java, "a.jar:b.jar") != archive_folder("kafka", java, "a.jar:c.jar")
    assert archive_folder("kafka", java, "a.jar") != archive_folder("kafka", other, "a.jar")


def test_the_folder_changes_when_a_jar_at_the_same_path_is_reinstalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JVM refuses an archive whose jars changed (CI: a fresh clone at the same path reinstalled pyspark,
    and -Xshare:on refused the archive trained on the clone before it)."""
    import os

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    jars = tmp_path / "pyspark" / "jars"
    jars.mkdir(parents=True)
    (jars / "spark-core.jar").write_bytes(b"one")
    for classpath in (str(jars), f"{jars}/*", str(jars / "spark-core.jar")):
        before = archive_folder("spark", java, classpath)
        assert archive_folder("spark", java, classpath) == before
        os.utime(jars / "spark-core.jar", ns=(1, 1))  # the same bytes, installed again
        assert archive_folder("spark", java, classpath) != before
        (jars / "spark-core.jar").write_bytes(b"one")
