"""README.md and docs/: every command names a real target, option, module or setting; every link stays inside."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from scripts.check_docs import commands, help_text, problems
from tests.conftest import REPO


def test_every_command_and_link_in_the_readme_and_docs_checks_out():
    assert problems(REPO) == []
    # the weights download in docs/local-checkpoints.md: its options are checked above, its fold here
    # (the same `alphagenome-pt download --help`, run once: help_text is cached)
    assert "alphagenome-pt download --local-dir alphagenome-checkpoint --fold all_folds" in \
        (REPO / "docs" / "local-checkpoints.md").read_text()
    assert "all_folds" in (help_text(str(Path(sys.executable).parent / "alphagenome-pt"), "download") or "")


def test_the_checker_finds_bad_commands_and_links(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n")
    (tmp_path / "README.md").write_text(
        "See [a](docs/a.md#a), [b](docs/a.md#nowhere), [c](../outside.md), [d](https://example.org).\n"
        "```bash\nmake tset\ndvc exp run -S experiment=v9\ndvc exp show --no-such-flag\n"
        "dvc exp run -S experiment=v1 -S 'evaluate.primary_features=[x]'   # fine\n"
        "python -m scripts.check_docs --nope\n```\n"
        "Inline: `dvc metrics diff v1 v2` is fine, `make demo DATA=x` too.\n"
    )
    found = "\n".join(problems(tmp_path))
    assert "missing heading: docs/a.md#nowhere" in found
    assert "outside the repository: ../outside.md" in found
    assert "outside the repository: https://example.org" in found
    assert "`make tset`: no Makefile target" in found
    assert "`dvc exp run -S experiment=v9`: -S experiment=v9 does not compose" in found
    assert "`dvc exp show --no-such-flag`: DVC's parser rejects it" in found
    assert "check_docs.py declares no option ['--nope']" in found
    assert found.count("README.md: ") == 7, found


def test_commands_join_continuations_and_drop_comments():
    text = "```bash\ndvc exp show --drop '.*' \\\n  --keep 'Experiment'   # comment\n# only a comment\n```\n"
    assert commands(text) == ["dvc exp show --drop '.*'    --keep 'Experiment'"]
