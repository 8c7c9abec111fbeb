"""YAML with limits: a config file is small, so one that expands to more than
MAX_NODES values through aliases (a "billion laughs" bomb) or nests deeper than MAX_DEPTH
is refused before anything is built from it, with the file named.

PyYAML's safe loader builds aliases as shared references, cheap in itself, but whatever
walks the result afterwards (checking each setting, printing a bad value) walks the full
expansion: minutes at 100 % CPU. A document nested thousands of levels deep makes the
composer itself recurse past Python's limit (RecursionError). The check below counts the
expanded size on the composed node graph, each node once, so it is quick either way.
"""

from __future__ import annotations

from typing import Any

MAX_NODES = 100_000     # values after aliases are expanded; a real config has a few hundred
MAX_DEPTH = 64          # levels of nesting; a real config has 3


class YamlTooBig(ValueError):
    """The document is refused; the message names the file and the limit."""


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)`` with the limits above. Raises YamlTooBig (named ``source``)
    or yaml.YAMLError for text that is not YAML."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlTooBig(f"{source}: YAML nested too deeply (more than {MAX_DEPTH} levels); "
                             "a config is a few levels of settings") from None
        if node is None:
            return None
        _check(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(root, source: str) -> None:
    import yaml

    sizes: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlTooBig(f"{source}: YAML nested too deeply (more than {MAX_DEPTH} levels); "
                             "a config is a few levels of settings")
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1   # a node that refers back to itself counts once
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        if total > MAX_NODES:
            raise YamlTooBig(f"{source}: YAML aliases (&name / *name) expand to more than "
                             f"{MAX_NODES:,} values; refused (a config has a few hundred). "
                             "Write the settings out without aliases")
        sizes[key] = total
        return total

    size(root, 0)
