"""The state diagrams in docs/architecture.md are the ones the machines' tables draw, and the
graph module that draws and rewrites them.

A failure here means a table changed and the docs did not: the message names the command that
redraws the diagrams.
"""

from __future__ import annotations

import contextlib
import enum
import io
import runpy
import sys
from pathlib import Path

import pytest

from sztp_client.protocol import graph
from sztp_client.protocol import onboarding as m

DOC = Path(__file__).resolve().parents[2] / graph.DOCUMENT
FIX = f"run `{graph.command()}` and commit the result"


@pytest.mark.parametrize("name", sorted(graph.MACHINES))
def test_every_registered_machine_has_a_current_diagram_in_the_docs(name: str) -> None:
    shown = graph.sections(DOC.read_text(encoding="utf-8"))
    assert name in shown, f"{graph.DOCUMENT} has no graph:{name} section; {FIX}"
    expected = graph.block(graph.registered()[name])
    assert shown[name] == expected, f"the graph:{name} diagram in {graph.DOCUMENT} is stale; {FIX}"


def test_the_docs_show_no_diagram_of_an_unregistered_machine() -> None:
    shown = graph.sections(DOC.read_text(encoding="utf-8"))
    unknown = sorted(set(shown) - set(graph.MACHINES))
    assert unknown == [], f"graph sections without a machine in graph.MACHINES: {unknown}"


def test_the_registry_starts_with_the_onboarding_machine() -> None:
    graphs = graph.registered()
    assert graphs["onboarding"] == m.transition_graph()


# --- the graph module -------------------------------------------------------------------------

TOY = graph.TransitionGraph(
    states=("idle", "busy-now", "done"),
    start="idle",
    terminal=frozenset({"done"}),
    transitions=(
        graph.Transition("idle", "Go", "busy-now"),
        graph.Transition("busy-now", "Stop", "done"),
    ),
)


def test_mermaid_rendering_is_stable_and_names_every_edge() -> None:
    text = graph.render_mermaid(TOY)
    assert text == graph.render_mermaid(TOY)
    assert text.splitlines() == [
        "stateDiagram-v2",
        '    state "busy-now" as busy_now',
        "    [*] --> idle",
        "    idle --> busy_now: Go",
        "    busy_now --> done: Stop",
        "    done --> [*]",
    ]


def test_the_onboarding_diagram_does_not_depend_on_the_tables_order() -> None:
    listed = m.transition_graph()
    shuffled = dict(reversed(list(m._TABLE.items())))
    again = graph.graph_of(
        shuffled, states=m.OnboardingState, start=m.OnboardingState.RECEIVED, terminal=m.TERMINAL
    )
    assert graph.render_mermaid(again) == graph.render_mermaid(listed)


def test_a_graph_naming_an_unknown_state_is_refused() -> None:
    with pytest.raises(graph.InternalError, match="nowhere"):
        graph.TransitionGraph(
            states=("idle",),
            start="idle",
            terminal=frozenset(),
            transitions=(graph.Transition("idle", "Go", "nowhere"),),
        )


def _doc(body: str, name: str = "toy") -> str:
    return f"# Title\n\nProse.\n\n<!-- graph:{name} -->\n{body}<!-- /graph:{name} -->\n\nMore.\n"


def test_update_redraws_a_stale_section_and_keeps_the_prose() -> None:
    stale = _doc("```mermaid\nstateDiagram-v2\n```\n")
    assert graph.problems(stale, {"toy": TOY}) == ["the graph:toy diagram is stale"]
    fresh = graph.updated(stale, {"toy": TOY})
    assert fresh == _doc(graph.block(TOY))
    assert graph.problems(fresh, {"toy": TOY}) == []
    assert graph.updated(fresh, {"toy": TOY}) == fresh


def test_update_adds_a_missing_section_at_the_end() -> None:
    text = "# Title\n\nProse.\n"
    assert graph.problems(text, {"toy": TOY}) == ["the graph:toy section is missing"]
    fresh = graph.updated(text, {"toy": TOY})
    assert fresh.startswith(text)
    assert graph.sections(fresh) == {"toy": graph.block(TOY)}


def test_a_section_of_an_unknown_machine_is_reported_and_left_alone() -> None:
    text = _doc("anything\n", name="gone")
    assert graph.updated(text, {}) == text
    assert graph.problems(text, {}) == [
        f"the graph:gone section shows no registered machine (see MACHINES in {graph.__name__})"
    ]


def test_two_sections_of_one_machine_are_refused() -> None:
    with pytest.raises(graph.InternalError, match="two graph:toy"):
        graph.sections(_doc("a\n") + _doc("b\n"))


def test_check_fails_naming_the_command_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "architecture.md"
    others = "".join(
        f"<!-- graph:{name} -->\n<!-- /graph:{name} -->\n"
        for name in graph.MACHINES
        if name != "onboarding"
    )
    doc.write_text(others + _doc("old\n", name="onboarding"), encoding="utf-8")
    assert graph.main(["--check", str(doc)]) == 1
    error = capsys.readouterr().err
    assert "graph:onboarding diagram is stale" in error
    assert f"python -m sztp_client.protocol.graph --write {doc}" in error
    assert graph.main(["--write", str(doc)]) == 0
    assert graph.main(["--check", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert graph.sections(text)["onboarding"] == graph.block(m.transition_graph())
    assert text.startswith(others.split("\n", 1)[0]) and text.endswith("More.\n")
    assert "# Title\n\nProse.\n" in text


def test_write_says_where_it_added_a_missing_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "architecture.md"
    doc.write_text("# Title\n", encoding="utf-8")
    assert graph.main(["--write", str(doc)]) == 0
    assert "added the graph:onboarding section at the end" in capsys.readouterr().err
    assert graph.main(["--check", str(doc)]) == 0


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_running_the_module_prints_every_diagram(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m sztp_client.protocol.graph`` (run in this process): the machines' graphs
    are built with the imported module's types, not with a second copy run as __main__."""
    monkeypatch.setattr(sys, "argv", ["graph"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        runpy.run_module("sztp_client.protocol.graph", run_name="__main__")
    assert exited.value.code == 0
    assert graph.sections(out.getvalue()) == {
        name: graph.block(g) for name, g in graph.registered().items()
    }


def test_a_table_keyed_by_enum_events_is_drawn_too() -> None:
    """A machine whose events are enum members rather than classes lists its graph the same
    way; a row without a next state is refused."""

    class State(enum.Enum):
        IDLE = "idle"
        DONE = "done"

    class Kick(enum.Enum):
        GO = "go"

    listed = graph.graph_of(
        {(State.IDLE, Kick.GO): (State.DONE, None)},
        states=State,
        start=State.IDLE,
        terminal={State.DONE},
    )
    assert listed.transitions == (graph.Transition("idle", "go", "done"),)
    with pytest.raises(graph.InternalError, match="no next state"):
        graph.graph_of(
            {(State.IDLE, Kick.GO): ("done",)}, states=State, start=State.IDLE, terminal=()
        )
