"""The protocol machines' transition graphs, drawn from their tables, and the docs showing them.

A machine lists its real graph: its module offers ``transition_graph() -> TransitionGraph``,
built with :func:`graph_of` from the very table the machine runs on, never a hand-written copy.
:func:`render_mermaid` draws a graph as a Mermaid ``stateDiagram-v2`` block, in a stable order
(states in their enum's order, then transitions by source, target and event), so that drawing
it again gives the same text.

docs/architecture.md shows each registered machine's diagram between two marker comments,
``<!-- graph:NAME -->`` and ``<!-- /graph:NAME -->``.  Regenerate them with::

    python -m sztp_client.protocol.graph --write docs/architecture.md

``--check`` exits 1 and names the sections that are missing, stale or unknown; ``make lint``
runs it, and tests/unit/test_docs_graphs.py does the same check in the suite.

To show another machine: give its module a ``transition_graph()`` function (see
:func:`sztp_client.protocol.onboarding.transition_graph`), add ONE line to :data:`MACHINES`
(marker name → module), and run the command above; a missing section is added at the end of
the file, to be moved where it belongs.

Everything here is pure except :func:`main`, which reads and writes the one file it is given.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

import msgspec

from sztp_client.errors import InternalError

#: The machines whose diagrams docs/architecture.md shows: marker name → the module whose
#: ``transition_graph()`` lists the graph.  Registering a machine is one line here.
MACHINES: Final[Mapping[str, str]] = {
    "onboarding": "sztp_client.protocol.onboarding",
    "session": "sztp_client.protocol.session",
}

DOCUMENT: Final = "docs/architecture.md"


def command(path: object = DOCUMENT) -> str:
    """The command that redraws the diagrams in ``path``."""
    return f"python -m sztp_client.protocol.graph --write {path}"


_S = TypeVar("_S", bound=enum.Enum)
_E = TypeVar("_E")


class Transition(NamedTuple):
    """One row of a machine's table: in ``source``, ``event`` leads to ``target``."""

    source: str
    event: str
    target: str


class TransitionGraph(msgspec.Struct, frozen=True):
    """States in their declared order, the start state, the terminal states, the transitions."""

    states: tuple[str, ...]
    start: str
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]

    def __post_init__(self) -> None:
        known = set(self.states)
        unknown = sorted(
            ({self.start} | self.terminal | {s for t in self.transitions for s in t[::2]}) - known
        )
        if unknown:
            raise InternalError(f"transition graph names unknown states: {', '.join(unknown)}")

    def successors(self, state: str) -> list[str]:
        return [t.target for t in self.transitions if t.source == state]

    def reachable(self) -> set[str]:
        """The states reachable from the start (the start included)."""
        seen = {self.start}
        todo = [self.start]
        while todo:
            for target in self.successors(todo.pop()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen


def _name(state: enum.Enum) -> str:
    return str(state.value)


def _event_name(event: object) -> str:
    if isinstance(event, type):
        return event.__name__
    return str(event.value) if isinstance(event, enum.Enum) else str(event)


def graph_of(
    table: Mapping[tuple[_S, _E], Sequence[object]],
    *,
    states: Iterable[_S],
    start: _S,
    terminal: Iterable[_S],
) -> TransitionGraph:
    """The graph of a table ``(state, event) -> (next state, ...)``: the next state is the first
    item of each row's value, as in the onboarding table.  An event is named by its class name
    when it is a type (event classes), by its value when it is an enum member."""
    order = [_name(state) for state in states]
    rank = {name: index for index, name in enumerate(order)}
    rows = []
    for (source, event), row in table.items():
        target = row[0]
        if not isinstance(target, enum.Enum):
            raise InternalError(f"row ({source}, {_event_name(event)}) has no next state")
        rows.append(Transition(_name(source), _event_name(event), _name(target)))
    rows.sort(key=lambda t: (rank.get(t.source, -1), rank.get(t.target, -1), t.event))
    return TransitionGraph(
        states=tuple(order),
        start=_name(start),
        terminal=frozenset(_name(state) for state in terminal),
        transitions=tuple(rows),
    )


def _node(state: str) -> str:
    return re.sub(r"\W", "_", state)


def render_mermaid(graph: TransitionGraph) -> str:
    """The graph as a Mermaid ``stateDiagram-v2`` (no fence), one line per edge."""
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{s}" as {_node(s)}' for s in graph.states if _node(s) != s]
    lines.append(f"    [*] --> {_node(graph.start)}")
    lines += [f"    {_node(t.source)} --> {_node(t.target)}: {t.event}" for t in graph.transitions]
    lines += [f"    {_node(s)} --> [*]" for s in graph.states if s in graph.terminal]
    return "\n".join(lines) + "\n"


def block(graph: TransitionGraph) -> str:
    """What stands between a machine's two markers: the fenced diagram."""
    return f"```mermaid\n{render_mermaid(graph)}```\n"


def registered() -> dict[str, TransitionGraph]:
    """The graph of every machine in :data:`MACHINES`, listed from its table now."""
    graphs = {}
    for name, module_name in MACHINES.items():
        graph = importlib.import_module(module_name).transition_graph()
        if not isinstance(graph, TransitionGraph):
            raise InternalError(f"{module_name}.transition_graph() gave no TransitionGraph")
        graphs[name] = graph
    return graphs


_SECTION = re.compile(
    r"<!-- graph:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /graph:(?P=name) -->", re.DOTALL
)


def sections(text: str) -> dict[str, str]:
    """The text between each pair of graph markers, by machine name."""
    found: dict[str, str] = {}
    for match in _SECTION.finditer(text):
        if match["name"] in found:
            raise InternalError(f"two graph:{match['name']} sections")
        found[match["name"]] = match["body"]
    return found


def problems(text: str, graphs: Mapping[str, TransitionGraph]) -> list[str]:
    """What differs between the document's diagram sections and ``graphs`` (empty: none)."""
    shown = sections(text)
    found = []
    for name, graph in graphs.items():
        if name not in shown:
            found.append(f"the graph:{name} section is missing")
        elif shown[name] != block(graph):
            found.append(f"the graph:{name} diagram is stale")
    found += [
        f"the graph:{name} section shows no registered machine (see MACHINES in {__name__})"
        for name in shown
        if name not in graphs
    ]
    return found


def updated(text: str, graphs: Mapping[str, TransitionGraph]) -> str:
    """``text`` with every diagram section redrawn; missing sections are added at the end."""

    def redraw(match: re.Match[str]) -> str:
        graph = graphs.get(match["name"])
        body = match["body"] if graph is None else block(graph)
        return f"<!-- graph:{match['name']} -->\n{body}<!-- /graph:{match['name']} -->"

    result = _SECTION.sub(redraw, text)
    shown = sections(text)
    for name, graph in graphs.items():
        if name not in shown:
            result = result.rstrip("\n") + (
                f"\n\n<!-- graph:{name} -->\n{block(graph)}<!-- /graph:{name} -->\n"
            )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sztp_client.protocol.graph",
        description="Print the protocol machines' diagrams, or redraw or check them in a "
        "Markdown file between <!-- graph:NAME --> and <!-- /graph:NAME --> markers.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", type=Path, help="redraw the sections in FILE")
    mode.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE is stale")
    args = parser.parse_args(argv)
    graphs = registered()
    if args.write is None and args.check is None:
        for name, graph in graphs.items():
            sys.stdout.write(f"<!-- graph:{name} -->\n{block(graph)}<!-- /graph:{name} -->\n")
        return 0
    path: Path = args.write or args.check
    text = path.read_text(encoding="utf-8")
    if args.write is not None:
        new = updated(text, graphs)
        if new != text:
            path.write_text(new, encoding="utf-8")
        for name in graphs:
            if name not in sections(text):
                print(
                    f"{path}: added the graph:{name} section at the end; move it", file=sys.stderr
                )
        return 0
    found = problems(text, graphs)
    for problem in found:
        print(f"{path}: {problem}; run: {command(path)}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    # run as sztp_client.protocol.graph, not __main__: the machines build their graphs with
    # that module's TransitionGraph
    raise SystemExit(importlib.import_module("sztp_client.protocol.graph").main())
