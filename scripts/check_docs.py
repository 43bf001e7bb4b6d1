"""Check every command and link in README.md and docs/*.md against the repository.

    python -m scripts.check_docs           # prints each problem; exit 1 if any

Commands are the lines of ```bash blocks and the inline code spans that start with `make`,
`dvc`, `python` or `pytest`. Each is checked without running it:
- `make T`: T is a Makefile target;
- `dvc ...`: DVC's own argument parser accepts it, and every `-S` override composes with conf/
  as `dvc exp run` composes it (a value or name in <angle brackets> is a placeholder);
- `python -m M` / `python path.py`: the module or file exists and declares each `--option` given;
- `pytest` paths exist and `-m` markers are declared; any other command's `--flags` appear in
  its `--help`; a path-like command (`.ci/run`) is an executable file in the repository.
Links must be relative, stay inside the repository and name an existing file (and heading).
The commands that do the work (make repro/test/demo, dvc exp run, dvc metrics diff, ...) are run
by the tests; this script keeps the text that names them true.
"""

from __future__ import annotations

import contextlib
import functools
import io
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
INLINE_COMMANDS = ("make ", "dvc ", "python ", "pytest ")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def commands(text: str) -> list[str]:
    """Fenced bash lines (continuations joined, comments dropped) and inline command spans."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip().rstrip("&").strip()
            if line and not line.startswith("#"):
                found.append(line)
    prose = FENCE.sub("", text)
    found += [span for span in INLINE.findall(prose) if span.startswith(INLINE_COMMANDS)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def check_link(document: Path, target: str, root: Path) -> str | None:
    if re.match(r"^[a-z]+:", target) or target.startswith("//"):
        return f"links outside the repository: {target}"
    path_part, _, anchor = target.partition("#")
    path = (document.parent / path_part).resolve() if path_part else document
    if not path.is_relative_to(root.resolve()):
        return f"links outside the repository: {target}"
    if not path.exists():
        return f"links to a missing file: {target}"
    if anchor and path.suffix == ".md":
        anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}
        if anchor not in anchors:
            return f"links to a missing heading: {target}"
    return None


@functools.cache
def make_targets(root: Path) -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (root / "Makefile").read_text(), re.M))


@functools.cache
def help_text(*command: str) -> str | None:
    try:
        result = subprocess.run([*command, "--help"], cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:  # not installed: reported as a problem by the caller
        return None
    return result.stdout + result.stderr if result.returncode == 0 else None


def check_overrides(overrides: list[str], root: Path) -> str | None:
    return compose_problem(tuple(o for o in overrides if "<" not in o), root)


@functools.cache  # the documents repeat the same -S lists (77 commands, 19 distinct lists)
def compose_problem(real: tuple[str, ...], root: Path) -> str | None:
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(str(root / "conf"), version_base=None):
            compose(config_name="config", overrides=list(real))
    except Exception as error:  # Hydra's own message names the override
        return f"-S {' -S '.join(real)} does not compose with conf/: {str(error).splitlines()[0]}"
    return None


def check_dvc(words: list[str], root: Path) -> str | None:
    from dvc.cli import DvcParserError, parse_args

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):  # usage text
            parsed = parse_args(words[1:])
    except (DvcParserError, SystemExit):
        return "DVC's parser rejects it"
    return check_overrides(getattr(parsed, "set_param", None) or [], root)


def check_python(words: list[str], root: Path) -> str | None:
    """The module or script exists, and each `--flag` given is one its argparse parser declares."""
    if len(words) < 2 or words[1:] == ["-m"]:
        return None  # prose naming the interpreter, not a command
    if words[1] == "-m":
        if "<" in words[2]:  # a placeholder: mprabench.stages.<stage> names the package that must exist
            words = [*words[:2], words[2].split(".<")[0], *words[3:]]
        spec = importlib.util.find_spec(words[2])
        if spec is None or spec.origin is None:
            return f"no module {words[2]}"
        source, rest = Path(spec.origin), words[3:]
    else:
        source, rest = root / words[1], words[2:]
        if not source.is_file():
            return f"no file {words[1]}"
    text = source.read_text()
    unknown = [w.split("=")[0] for w in rest if w.startswith("--") and f'"{w.split("=")[0]}"' not in text]
    return f"{source.name} declares no option {unknown}" if unknown else None


def check_pytest(words: list[str], root: Path) -> str | None:
    markers = (root / "pyproject.toml").read_text()
    for index, word in enumerate(words[1:], start=1):
        if words[index - 1] == "-m":
            for marker in re.findall(r"\w+", word):
                if marker not in ("not", "and", "or") and f'"{marker}:' not in markers and f"'{marker}:" not in markers:
                    return f"undeclared marker {marker}"
        elif not word.startswith("-") and not (root / word.split("::")[0]).exists():
            return f"no path {word}"
    return None


def check_command(command: str, root: Path) -> str | None:
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):  # environment assignments
        words = words[1:]
    if not words:
        return None
    program = words[0]
    if program == "make":
        missing = [w for w in words[1:] if "=" not in w and w not in make_targets(root)]
        return f"no Makefile target {missing}" if missing else None
    if program == "source":
        return None if words[1] == ".venv/bin/activate" else f"sources {words[1]}"
    if program == "dvc":
        return check_dvc(words, root)
    if program == "python":
        return check_python(words, root)
    if program == "pytest":
        return check_pytest(words, root)
    if "/" in program:
        path = root / program
        return None if path.is_file() and path.stat().st_mode & 0o111 else f"no executable {program}"
    installed = Path(sys.executable).parent / program  # the environment's own command (mlflow, ...)
    usage = help_text(str(installed) if installed.exists() else program, *[w for w in words[1:2] if not w.startswith("-")])
    if usage is None:
        return f"`{program} --help` fails (is it installed? `make setup` installs the environment's commands)"
    unknown = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in usage]
    return f"unknown options {unknown}" if unknown else None


def problems(root: Path = REPOSITORY) -> list[str]:
    found = []
    for document in documents(root):
        text = document.read_text()
        name = document.relative_to(root)
        if "../shared" in text:
            found.append(f"{name}: names a folder outside the repository (../shared)")
        for target in LINK.findall(text):
            if (problem := check_link(document, target, root)) is not None:
                found.append(f"{name}: {problem}")
        for command in commands(text):
            if (problem := check_command(command, root)) is not None:
                found.append(f"{name}: `{command}`: {problem}")
    return found


def main() -> int:
    found = problems()
    print("\n".join(found) if found else f"every command and link in {len(documents(REPOSITORY))} documents checks out")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
