"""README's two commands are the ones the project really runs: CI calls exactly the README test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert first_block, "README.md must open with a code block holding the two commands"
    return [line.strip() for line in first_block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_opens_with_demo_and_test_commands() -> None:
    commands = _readme_commands()
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert _readme_commands()[1] in lines


def test_scripts_bootstrap_from_nothing() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    assert "uv sync --frozen" in bootstrap.replace('"$UV" sync', "uv sync")
    assert "pip install" in bootstrap
    assert (ROOT / "uv.lock").is_file()


# --- every `dari …` command the README and docs/*.md show exists, with every option they give it ---

_INLINE = re.compile(r"`((?:\.venv/bin/)?dari [^`]+)`")
_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_LINE = re.compile(r"^\s*(?:\$\s*)?((?:\.venv/bin/)?dari\s.*)$", re.M)


def _documented_commands() -> list[tuple[str, str]]:
    """(file, command line) for each `dari …` in README.md and docs/*.md, `a / b` and `&&` chains split."""
    found: list[tuple[str, str]] = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        lines = [m for m in _INLINE.findall(text)]
        lines += [m for block in _FENCE.findall(text) for m in _LINE.findall(block.replace("\\\n", " "))]
        for line in lines:
            for part in re.split(r"&&|;|\|(?!\w)", line):
                part = part.split(" #")[0].strip()
                if part.startswith(("dari ", ".venv/bin/dari ")):
                    found.append((path.name, part.removeprefix(".venv/bin/")))
    return found


def _resolve(words: list[str]) -> list[tuple[list[str], list[str]]]:
    """The command paths a documented line names ('a/b' alternatives expanded) and the options it gives each."""
    import click
    from typer.main import get_command

    from dari.cli.app import app

    root = get_command(app)
    ctx = click.Context(root)
    paths: list[tuple[list[str], list[str]]] = [([], [])]
    group: click.Command = root
    i = 0
    while i < len(words) and isinstance(group, click.Group):
        names = words[i].split("/")
        if not all(group.get_command(ctx, n) for n in names):
            break
        paths = [([*path, n], []) for path, _ in paths for n in names]
        sub = group.get_command(ctx, names[0])
        assert sub is not None
        group = sub
        i += 1
    options = [w.split("=")[0] for w in words[i:] if w.startswith("--")]
    return [(path, options) for path, _ in paths]


def _commands_with_options() -> dict[tuple[str, ...], set[str]]:
    wanted: dict[tuple[str, ...], set[str]] = {}
    for _file, line in _documented_commands():
        segments = [s.strip() for s in line.split(" / ")]
        first = re.sub(r"[\[\]|…]", " ", segments[0]).split()[1:]
        resolved = _resolve(first)
        prefix = resolved[0][0][:-1]
        for path, options in resolved:
            wanted.setdefault(tuple(path), set()).update(options)
        for segment in segments[1:]:
            for path, options in _resolve([*prefix, *re.sub(r"[\[\]|…]", " ", segment).split()]):
                wanted.setdefault(tuple(path), set()).update(options)
    return wanted


def test_documented_dari_commands_exist_with_their_options() -> None:
    import click
    from typer.main import get_command
    from typer.testing import CliRunner

    from dari.cli.app import app

    # Prepare
    wanted = _commands_with_options()
    assert len(wanted) > 30  # the parser finds the documented commands, not a handful
    root = get_command(app)
    runner = CliRunner()
    missing: list[str] = []
    for path, options in sorted(wanted.items()):
        # Execute: `dari … --help` as a person would
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        # Assert: every option the docs give this command is one it has
        command: click.Command = root
        ctx = click.Context(root)
        for name in path:
            assert isinstance(command, click.Group)
            sub = command.get_command(ctx, name)
            assert sub is not None, path
            command = sub
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
        missing += [f"dari {' '.join(path)} {option}" for option in sorted(options - known)]
    assert missing == []


def test_readme_names_exactly_the_commands_with_format_json() -> None:
    import click
    from typer.main import get_command

    from dari.cli.app import app

    def walk(command: click.Command, path: list[str]) -> list[str]:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
            return [found for n, sub in subs if sub is not None for found in walk(sub, [*path, n])]
        return [" ".join(path)] if any("--format" in p.opts for p in command.params) else []

    # Prepare: the README's sentence on machine output
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"take `--format json` for machine output \(([^)]*)\)", text)
    assert sentence, "README.md must say which commands take --format json"
    named = set(re.findall(r"`([a-z -]+)`", sentence[1].split(";")[0]))
    # Assert: the sentence names the commands that have the option, all of them and no other
    assert named == set(walk(get_command(app), []))
