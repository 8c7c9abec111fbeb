"""One training example drawn as a conversation: one box per turn, titled by role.

The role is written in each box's title, so turns stay distinct without colour.
"""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.text import Text
from textual.widgets import Static

ROLE_STYLE = {"system": "yellow", "user": "cyan", "assistant": "green", "tool": "magenta"}


def render_turns(messages: list[dict]) -> Group:
    panels = []
    for message in messages:
        role = str(message.get("role", "?"))
        content = message.get("content")
        if not isinstance(content, str):  # tool calls or structured content
            content = repr(content) if content is not None else ""
        if message.get("tool_calls"):
            content += f"\n[tool calls] {message['tool_calls']}"
        is_assistant = role == "assistant"
        panels.append(Panel(
            Text(content or "(empty)"),
            title=role, title_align="right" if is_assistant else "left",
            border_style=ROLE_STYLE.get(role, "white"),
            padding=(0, 1),
        ))
    return Group(*panels)


class ChatView(Static):
    DEFAULT_CSS = """
    ChatView { height: auto; }
    """

    def show(self, messages: list[dict] | None) -> None:
        self.update(render_turns(messages) if messages else "No example to show.")
