"""Directory walks take the flow logs and pass over the documentation beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.collect.flows.reader import expand_paths
from toolkit.errors import InputError


def test_directory_walk_skips_docs_and_hidden_files(tmp_path: Path):
    for name in ("LICENSE", "README.md", "NOTICE.txt", ".hidden.log", "notes.md",
                 "a.log", "b.json.gz", "conntrack.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.log").write_text("x")
    names = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])]
    assert names == ["a.log", "b.json.gz", "conntrack.txt", "sub/c.log"]


def test_a_named_file_is_taken_even_if_it_looks_like_docs(tmp_path: Path):
    (tmp_path / "README.md").write_text("x")
    assert expand_paths([tmp_path / "README.md"]) == [tmp_path / "README.md"]


def test_the_real_hubble_folder_imports_without_its_license(realdata: Path):
    files = expand_paths([realdata / "hubble" / "hubble-otel-testdata"])
    assert files and all(p.name != "LICENSE" for p in files)


def test_missing_path_is_a_clear_error(tmp_path: Path):
    with pytest.raises(InputError, match="no such file or directory"):
        expand_paths([tmp_path / "nope"])
