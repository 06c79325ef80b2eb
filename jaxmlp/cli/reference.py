"""The command-line reference, generated from the parser: every subcommand and every option, with
its values, default and help, as Markdown (the documentation site's ``reference/cli.md``)."""

from __future__ import annotations

import argparse

from jaxmlp.cli.parser import build_parser

__all__ = ["commands", "markdown"]


def commands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its full name (``"jaxmlp train"``), in the parser's order."""
    parser = parser or build_parser()
    found = {"jaxmlp": parser}

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    found[f"{name} {sub}"] = child
                    walk(child, f"{name} {sub}")

    walk(parser, "jaxmlp")
    return found


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_row(action: argparse.Action) -> str:
    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}` (positional)"
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        values = ", ".join(f"`{c}`" for c in action.choices)
    elif action.nargs == 0:
        values = "flag"
    else:
        values = f"`{action.metavar or action.dest.upper()}`"
    default = action.default
    shown = (
        "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
    )
    help_text = (action.help or "") % {"default": default, "prog": ""} if action.help else ""
    return f"| {names} | {_cell(values)} | {_cell(shown)} | {_cell(help_text)} |"


def markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference: a section per command (its description and usage), a table of its options."""
    out = []
    for name, p in commands(parser).items():
        out.append(f"## `{name}`\n")
        if p.description:
            out.append(" ".join(p.description.split()) + "\n")
        usage = p.format_usage().removeprefix("usage: ").rstrip()
        out.append(f"```text\n{usage}\n```\n")
        rows = [
            _option_row(a)
            for a in p._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        ]
        if rows:
            out.append("| option | values | default | what it does |\n|---|---|---|---|")
            out.append("\n".join(rows) + "\n")
    return "\n".join(out)
