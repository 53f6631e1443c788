"""Every YAML and shell snippet in the README and docs/ is valid and runnable.

Rules, so a reader can paste any snippet and have it work:

- a ``yaml`` block is a whole scenario: ``brownout validate`` accepts it and it validates against
  ``brownout schema`` with jsonschema. A block preceded by ``<!-- fragment -->`` is a piece of
  one (or another YAML file): it must at least parse.
- a ``sh``/``bash``/``shell`` block parses with ``bash -n``; every command in it exists: a
  ``brownout`` command line parses with brownout's own CLI (subcommands and options exist), a
  ``python -m MODULE`` names an importable module, a repository path it names exists, and any
  other program is on PATH or a documented outside tool. A block preceded by ``<!-- run -->``
  is executed from the repository root and must exit 0.
- a ``json`` block parses.
- no page points at files outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from markdown_it import MarkdownIt

from harness.cli import cli
from harness.scenario.schema import scenario_json_schema

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: Programs the docs may name that a test machine need not have (the reader installs them).
OUTSIDE_TOOLS = {"docker", "git", "pip", "uv", "curl", "open", "xdg-open", "toxiproxy-server"}
SHELL_BUILTINS = {"cd", ".", "source", "export", "echo", "test", "[", "set", "exit", "cat"}
SHELL_LANGS = {"sh", "bash", "shell"}


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    marker: str  # "fragment", "run", "github-workflow" or ""
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    found: list[Snippet] = []
    marker = ""
    for token in MarkdownIt().parse(page.read_text(encoding="utf-8")):
        if token.type == "html_block":
            match = re.fullmatch(r"\s*<!--\s*([\w-]+)\s*-->\s*", token.content)
            marker = match.group(1) if match else ""
            continue
        if token.type == "fence" and token.map is not None:
            lang = token.info.strip().split(" ")[0].lower()
            found.append(Snippet(page, token.map[0] + 1, lang, marker, token.content))
        marker = ""
    return found


ALL = [s for page in PAGES for s in snippets(page)]
YAML = [s for s in ALL if s.lang in ("yaml", "yml")]
SHELL = [s for s in ALL if s.lang in SHELL_LANGS]
JSON = [s for s in ALL if s.lang == "json"]
PYTHON = [s for s in ALL if s.lang == "python"]


def ids(snippet: Snippet) -> str:
    return snippet.where


def test_the_docs_have_snippets_to_check() -> None:
    # Guards the collection itself: a broken fence parser would make every test below vacuous.
    assert len(YAML) >= 4 and len(SHELL) >= 10, (len(YAML), len(SHELL))
    assert any(s.marker == "run" for s in SHELL) and any(s.marker == "fragment" for s in YAML)


@pytest.mark.parametrize("snippet", YAML, ids=ids)
def test_yaml_snippet(snippet: Snippet, tmp_path: Path) -> None:
    data = yaml.safe_load(snippet.text)
    if snippet.marker == "fragment":
        return
    if snippet.marker == "github-workflow":
        check_workflow(snippet, data)
        return
    # A scenario: brownout validate accepts it, and so does jsonschema with `brownout schema`.
    path = tmp_path / "snippet.yaml"
    path.write_text(snippet.text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, f"{snippet.where}: {result.output}"
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(scenario_json_schema()).iter_errors(data)
    ]
    assert not errors, f"{snippet.where}: {errors}"


def check_workflow(snippet: Snippet, data: object) -> None:
    """A GitHub Actions workflow: its shape, and each ``run:`` script as a shell snippet."""
    assert isinstance(data, dict), snippet.where
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    assert "on" in data or True in data, f"{snippet.where}: no 'on:' trigger"
    jobs = data.get("jobs")
    assert isinstance(jobs, dict) and jobs, f"{snippet.where}: no jobs"
    for name, job in jobs.items():
        assert "runs-on" in job, f"{snippet.where}: job {name} has no runs-on"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{snippet.where}: {step}"
            if "run" in step:
                check_shell(snippet.where, step["run"])


@pytest.mark.parametrize("snippet", JSON, ids=ids)
def test_json_snippet(snippet: Snippet) -> None:
    json.loads(snippet.text)


@pytest.mark.parametrize("snippet", PYTHON, ids=ids)
def test_python_snippet_compiles(snippet: Snippet) -> None:
    compile(snippet.text, snippet.where, "exec")


def test_the_own_service_guide_shows_the_example_scenario_as_it_is() -> None:
    guide = ROOT / "docs" / "own-service.md"
    scenario = ROOT / "examples" / "pytest_own_service" / "scenario.yaml"
    shown = [s for s in YAML if s.page == guide and s.marker == ""]
    assert shown, "docs/own-service.md shows the example scenario"
    assert yaml.safe_load(shown[0].text) == yaml.safe_load(scenario.read_text(encoding="utf-8"))


@pytest.mark.parametrize("snippet", SHELL, ids=ids)
def test_shell_snippet(snippet: Snippet) -> None:
    check_shell(snippet.where, snippet.text)
    if snippet.marker == "run":
        result = subprocess.run(
            ["bash", "-e", "-c", snippet.text],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=_venv_env(),
        )
        assert result.returncode == 0, f"{snippet.where}:\n{result.stdout}\n{result.stderr}"


def _venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def check_shell(where: str, script: str) -> None:
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert syntax.returncode == 0, f"{where}: {syntax.stderr}"
    for command in commands(script):
        problem = command_problem(command)
        assert problem is None, f"{where}: {shlex.join(command)}: {problem}"


def commands(script: str) -> list[list[str]]:
    """Simple commands of a script: split at ``&&``, ``||``, ``|``, ``;`` and newlines, with
    comments, line continuations and leading ``NAME=value`` assignments removed."""
    out: list[list[str]] = []
    for line in _logical_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = ""
        current: list[str] = []
        redirect = False
        for token in lexer:
            if set(token) <= set(";&|()"):
                if current:
                    out.append(current)
                current = []
            elif set(token) <= set("<>"):
                redirect = True  # the next word is a file, not an argument
            elif redirect:
                redirect = False
            elif current or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
                current.append(token)
        if current:
            out.append(current)
    return out


def _logical_lines(script: str) -> list[str]:
    """Split at newlines outside quotes, dropping comments and joining continuations."""
    lines: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(script):
        char = script[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "\\" and script[index + 1 : index + 2] == "\n":
            index += 2
            continue
        elif char == "#" and (not current or current[-1] in " \t"):
            while index < len(script) and script[index] != "\n":
                index += 1
            continue
        elif char == "\n":
            lines.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    lines.append("".join(current))
    return [line for line in lines if line.strip()]


def command_problem(argv: list[str]) -> str | None:
    program, args = argv[0], argv[1:]
    if program in SHELL_BUILTINS or program in OUTSIDE_TOOLS or program.startswith("$"):
        return None
    if program in ("python", "python3"):
        if args[:1] == ["-m"] and len(args) > 1:
            module = args[1]
            if module not in ("venv", "pip") and importlib.util.find_spec(module) is None:
                return f"no module named {module}"
        return _missing_paths(args)
    if program == "brownout":
        return _brownout_problem(args) or _missing_paths(args)
    if program.startswith(("scripts/", ".ci/", "./")):
        return None if (ROOT / program).exists() else f"{program} is not in the repository"
    venv_bin = str(Path(sys.executable).parent)
    if shutil.which(program) is None and shutil.which(program, path=venv_bin) is None:
        return f"{program} is not a known command"
    return None


def _brownout_problem(args: list[str]) -> str | None:
    """Parse the command line with brownout's own click tree, without running it."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="brownout", resilient_parsing=True)
    rest = list(args)
    while isinstance(command, click.Group):
        while rest and rest[0].startswith("-"):
            if rest[0] not in ("-h", "--help", "--version"):
                return f"brownout has no option {rest[0]!r}"
            rest = rest[1:]
        if not rest:
            return None
        name, rest = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            return f"brownout has no command {name!r}"
        command = sub
        if sub.context_settings.get("ignore_unknown_options"):
            return None  # a pass-through command (mock, toxiproxy): flags are its program's
        try:
            ctx = sub.make_context(name, list(rest), parent=ctx)
        except click.BadParameter:
            return None  # a placeholder value (RUN_DIR) in a prose example
        except click.UsageError as exc:
            return exc.format_message()
        rest = list(ctx.args)
    return None


def _missing_paths(args: list[str]) -> str | None:
    for arg in args:
        repo_path = re.fullmatch(r"(scenarios|examples|docs|tests|benchmarks)/[\w./*-]+", arg)
        if repo_path and not any(ROOT.glob(arg)):
            return f"{arg} is not in the repository"
    return None


def test_no_page_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|(?<![\w/])shared/(reference|DESIGN|STYLE|bin)")
    hits = [
        f"{page.relative_to(ROOT)}:{number}"
        for page in PAGES
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert not hits


def test_relative_links_point_at_files_that_exist() -> None:
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in PAGES
        for target in link.findall(page.read_text(encoding="utf-8"))
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not broken


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = ROOT / "docs" / "index.md"
    linked = readme + (index.read_text(encoding="utf-8") if index.exists() else "")
    unlinked = [
        page.relative_to(ROOT).as_posix()
        for page in sorted((ROOT / "docs").glob("*.md"))
        if page.name not in linked
    ]
    assert not unlinked
