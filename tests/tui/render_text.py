"""Plain text of what a widget shows, for assertions on screen content."""

import io

from rich.console import Console


def plain(widget, width: int = 120) -> str:
    """Render a Static's content (markup, Text or any rich renderable) without styles."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    content = widget.content
    if hasattr(content, "plain") and not hasattr(content, "__rich_console__"):
        return content.plain          # textual Content
    console.print(content)
    return console.file.getvalue()


def screen_text(app) -> str:
    """The lines the terminal shows now (the top screen over the ones below), unstyled."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
