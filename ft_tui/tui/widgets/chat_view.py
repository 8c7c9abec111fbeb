"""One training example drawn as a conversation: one box per turn, titled by role.

The role is written in each box's title, so turns stay distinct without colour. With
``trained`` given, the turns the loss covers say "trained" in their title and are bold;
the rest (context) are dim.
"""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.text import Text
from textual.widgets import Static

ROLE_STYLE = {"system": "yellow", "user": "cyan", "assistant": "green", "tool": "magenta"}


def render_turns(messages: list[dict], trained: set[int] | None = None,
                 cut: dict[int, bool] | None = None) -> Group:
    """``cut``: trained turns that ``max_length`` cuts, True when nothing of them is left."""
    panels = []
    for index, message in enumerate(messages):
        role = str(message.get("role", "?"))
        content = message.get("content")
        if not isinstance(content, str):  # tool calls or structured content
            content = repr(content) if content is not None else ""
        if message.get("tool_calls"):
            content += f"\n[tool calls] {message['tool_calls']}"
        is_assistant = role == "assistant"
        title, style = role, ""
        if trained is not None:
            learn = index in trained
            title = f"{role} · trained" if learn else f"{role} · context"
            style = "bold" if learn else "dim"
            if learn and cut and index in cut:
                title = (f"{role} · cut at max_length, not trained" if cut[index]
                         else f"{role} · trained only up to max_length")
        panels.append(Panel(
            Text(content or "(empty)", style=style),
            title=title, title_align="right" if is_assistant else "left",
            border_style=ROLE_STYLE.get(role, "white"),
            padding=(0, 1),
        ))
    return Group(*panels)


def render_pair(prompt: list[dict], chosen: list[dict] | None, rejected: list[dict] | None = None,
                label: bool | None = None) -> Group:
    """A preference example as it is trained: the shared prompt (context), then the chosen
    and the rejected answer (DPO), or the one answer with its label (KTO)."""
    parts = [render_turns(prompt, set())] if prompt else []
    sides = ([("chosen · trained to prefer", chosen, "green"),
              ("rejected · trained to avoid", rejected, "red")] if label is None else
             [(f"label {str(label).lower()} · trained to {'imitate' if label else 'avoid'}",
               chosen, "green" if label else "red")])
    for title, messages, colour in sides:
        content = "\n".join(str(m.get("content") or "") for m in messages or []) or "(empty)"
        parts.append(Panel(Text(content, style="bold"), title=title, title_align="right",
                           border_style=colour, padding=(0, 1)))
    return Group(*parts)


class ChatView(Static):
    DEFAULT_CSS = """
    ChatView { height: auto; }
    """

    def show(self, messages: list[dict] | None, trained: set[int] | None = None,
             cut: dict[int, bool] | None = None) -> None:
        self.update(render_turns(messages, trained, cut) if messages else "No example to show.")

    def show_pair(self, example) -> None:
        """A DPO pair (or KTO row) from the data engine's Example."""
        if example.chosen is not None:
            self.update(render_pair(example.prompt_messages(), example.chosen, example.rejected))
        else:
            self.update(render_pair(example.prompt_messages(), example.completion_messages(),
                                    label=example.label))
