"""Class-data-sharing archives: trained once, never half-written, a failed training remembered until retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.runtime.class_sharing import archive_folder, existing_archives, trained_archives

Key = tuple[str, Path, str]


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Key:
    """An archive kind, a Java and a class path of one jar, all under a cache of the test's own."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    jar = tmp_path / "lib" / "core.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"classes")
    return "kafka-current", java, str(jar)


def _writes(*names: str, calls: list[Path]):  # noqa: ANN202
    def train(directory: Path) -> None:
        calls.append(directory)
        for name in names:
            (directory / f"{name}.jsa").write_bytes(b"archive")
    return train


def test_archives_are_trained_once_and_then_only_looked_up(key: Key) -> None:
    calls: list[Path] = []
    first = trained_archives(*key, ("a", "b"), _writes("a", "b", calls=calls), "X", lambda _: None)
    again = trained_archives(*key, ("a", "b"), _writes("a", "b", calls=calls), "X", lambda _: None)
    folder = archive_folder(*key)
    assert first == again == {"a": folder / "a.jsa", "b": folder / "b.jsa"}
    assert len(calls) == 1
    assert existing_archives(folder, ("a", "b")) == first


def test_a_training_that_misses_an_archive_installs_none_and_is_not_repeated_until_retried(key: Key) -> None:
    calls: list[Path] = []
    said: list[str] = []
    folder = archive_folder(*key)
    assert trained_archives(*key, ("a", "b"), _writes("a", calls=calls), "X", said.append) == {}
    assert not (folder / "a.jsa").exists(), "a partial set of archives must not be installed"
    assert any("class-data sharing is off for X" in line for line in said)
    assert trained_archives(*key, ("a", "b"), _writes("a", "b", calls=calls), "X", said.append) == {}
    assert len(calls) == 1, "a failed training is remembered"
    assert set(trained_archives(*key, ("a", "b"), _writes("a", "b", calls=calls), "X", said.append, retry=True)) == {"a", "b"}
    assert not (folder / "training-failed.txt").exists()


def test_a_training_that_raises_leaves_its_reason_beside_the_archives(key: Key) -> None:
    def fail(_: Path) -> None:
        raise HarnessError("the broker did not start", detail="log tail")

    assert trained_archives(*key, ("a",), fail, "X", lambda _: None) == {}
    assert "the broker did not start" in (archive_folder(*key) / "training-failed.txt").read_text()


def test_a_new_training_removes_the_archives_no_jvm_can_use_and_keeps_the_others(key: Key, tmp_path: Path) -> None:
    """Every reinstall of the jars (a fresh clone, `make clean`) trains a new archive; the one it replaces goes,
    while another class path's archive (a second clone) and a folder with no record (still training) stay."""
    import os

    kind, java, jar = key
    other_jar = tmp_path / "clone2" / "core.jar"
    other_jar.parent.mkdir()
    other_jar.write_bytes(b"classes")
    calls: list[Path] = []
    old = trained_archives(*key, ("a",), _writes("a", calls=calls), "X", lambda _: None)["a"].parent
    other = trained_archives(kind, java, str(other_jar), ("a",), _writes("a", calls=calls), "X", lambda _: None)["a"].parent
    unrecorded = old.parent / f"{kind}-{'0' * 12}"
    unrecorded.mkdir()
    another_kind = trained_archives("spark-current", java, jar, ("a",), _writes("a", calls=calls), "X", lambda _: None)["a"].parent
    os.utime(jar, ns=(1, 1))  # the same jar, installed again: the JVM would refuse the old archive
    new = trained_archives(*key, ("a",), _writes("a", calls=calls), "X", lambda _: None)["a"].parent
    assert new != old and (new / "a.jsa").exists()
    assert not old.exists()
    assert (other / "a.jsa").exists() and unrecorded.exists()
    assert (another_kind / "a.jsa").exists(), "its jar changed too, but only a training of its own kind removes it"


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
