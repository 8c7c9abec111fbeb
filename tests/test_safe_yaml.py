"""A config file cannot keep ft-tui busy or crash it: alias bombs and deep nesting are
refused quickly, with the file named."""

import pytest

from ft_tui.core.config.settings import ConfigError, RunConfig

BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
model:
  name: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_an_alias_bomb_in_a_known_key_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ConfigError) as caught:
        RunConfig.load(path)
    assert str(path) in str(caught.value) and "aliases" in str(caught.value)


def test_yaml_nested_thousands_of_levels_deep_is_refused_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("data:\n  system_prompt: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as caught:
        RunConfig.load(path)
    assert str(path) in str(caught.value) and "nested too deeply" in str(caught.value)


def test_a_config_with_ordinary_aliases_still_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("training:\n  max_steps: &n 30\n  save_steps: *n\n")
    cfg = RunConfig.load(path)
    assert cfg.training.max_steps == cfg.training.save_steps == 30
