"""The run config: defaults, YAML round trip, and messages that name field, value and range."""

import pytest

from ft_tui.core.config.settings import (ConfigError, RunConfig, coerce, field_info, get_value,
                                iter_fields)


def test_defaults_are_valid_and_every_field_has_help():
    cfg = RunConfig()
    cfg.validate()
    infos = iter_fields()
    assert len(infos) > 30
    missing = [i.key for i in infos if not i.help.strip()]
    assert missing == []


def test_yaml_round_trip(tmp_path):
    cfg = RunConfig().with_overrides({"training.max_steps": 30, "lora.r": 8, "method": "full"})
    path = cfg.save(tmp_path / "run.yaml")
    again = RunConfig.load(path)
    assert again == cfg
    assert again.training.max_steps == 30 and again.method == "full"


def test_partial_yaml_keeps_defaults(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  learning_rate: 1e-4\n")
    cfg = RunConfig.load(p)
    assert cfg.training.learning_rate == pytest.approx(1e-4)
    assert cfg.lora.r == RunConfig().lora.r


def test_every_problem_is_reported_with_field_value_and_range(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("method: lorra\ntraining:\n  learning_rate: 5\n  epocs: 3\nlora:\n  r: many\n")
    with pytest.raises(ConfigError) as err:
        RunConfig.load(p)
    text = "\n".join(err.value.problems)
    assert "method: 'lorra' is not allowed; choose one of lora, qlora, full" in text
    assert "training.learning_rate: 5.0 is out of range; allowed 1e-06..0.001" in text
    assert "training.epocs: unknown setting (did you mean 'training.epochs'?)" in text
    assert "lora.r: expected a whole number, got 'many'" in text
    assert all(line.startswith(str(p)) for line in err.value.problems)


def test_invalid_yaml_names_the_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("method: lora\ntraining: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        RunConfig.load(p)
    assert "not valid YAML at line" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        RunConfig.load(tmp_path / "nope.yaml")


def test_non_mapping_yaml_is_rejected(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        RunConfig.load(p)


def test_coerce_form_strings():
    assert coerce(field_info("training.gradient_checkpointing"), "yes") is True
    assert coerce(field_info("training.batch_size"), "8") == 8
    assert coerce(field_info("training.learning_rate"), "2e-4") == pytest.approx(2e-4)
    with pytest.raises(ValueError, match="training.batch_size: expected a whole number"):
        coerce(field_info("training.batch_size"), "2.5")


def test_overrides_are_validated():
    with pytest.raises(ConfigError, match="training.batch_size: 0 is out of range"):
        RunConfig().with_overrides({"training.batch_size": 0})
    cfg = RunConfig().with_overrides({"data.max_length": 256, "training.epochs": None})
    assert get_value(cfg, "data.max_length") == 256
    assert cfg.training.epochs == RunConfig().training.epochs


def test_safe_defaults():
    cfg = RunConfig()
    assert cfg.model.trust_remote_code is False
    assert "key" not in cfg.to_yaml().lower().replace("api key", "")  # no secrets in config


def test_lora_targets_parsing():
    assert RunConfig().lora_targets() == "all-linear"
    cfg = RunConfig().with_overrides({"lora.target_modules": "q_proj, v_proj"})
    assert cfg.lora_targets() == ["q_proj", "v_proj"]


def test_wrong_types_and_nan_are_rejected_by_field_name(tmp_path):
    """YAML `train_path: [a, b]` must not become the path "['a', 'b']", `name: 123` not the
    model "123", and `.nan` must not slip past the range checks."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: 123}\n"
                   "data: {train_path: [a.jsonl, b.jsonl], eval_fraction: .nan}\n"
                   "training: {learning_rate: .inf, batch_size: [4]}\n")
    with pytest.raises(ConfigError) as info:
        RunConfig.load(bad)
    text = "\n".join(info.value.problems)
    for key in ("model.name", "data.train_path", "data.eval_fraction",
                "training.learning_rate", "training.batch_size"):
        assert key in text, (key, text)
    assert "expected text" in text and "finite" in text
    # quoted text and an empty (null) path are still fine
    ok = tmp_path / "ok.yaml"
    ok.write_text("model: {name: '123'}\ndata: {eval_path: }\n")
    cfg = RunConfig.load(ok)
    assert cfg.model.name == "123" and cfg.data.eval_path == ""


def test_max_steps_zero_is_refused_and_range_errors_spell_bounds_like_the_help():
    from ft_tui.core.config.settings import ConfigError, RunConfig

    with pytest.raises(ConfigError) as zero:
        RunConfig().with_overrides({"training.max_steps": 0}).validate()
    assert "training.max_steps: 0 would train nothing" in str(zero.value)
    with pytest.raises(ConfigError) as big:
        RunConfig().with_overrides({"training.max_steps": 20_000_000}).validate()
    assert "allowed -1..10000000" in str(big.value) and "1e+07" not in str(big.value)


def test_values_are_checked_by_meaning_for_the_form_the_yaml_and_set_alike():
    # A lagging terminal typed "10" into lora.target_modules and 0 into max_steps; both
    # were saved. They are now refused where every path (form, YAML, --set) builds a config.
    from ft_tui.core.config.settings import ConfigError, RunConfig

    cases = {"lora.target_modules": "10", "training.max_steps": 0,
             "eval.judge_url": "localhost:8000", "data.train_path": " ", "output_dir": ""}
    for key, bad in cases.items():
        with pytest.raises(ConfigError) as err:
            RunConfig().with_overrides({key: bad})
        assert str(err.value).startswith(key + ":"), err.value
    assert "not a module name" in str(pytest.raises(ConfigError, RunConfig().with_overrides,
                                                    {"lora.target_modules": "q_proj,10"}).value)
    ok = RunConfig().with_overrides({"lora.target_modules": "q_proj, v_proj",
                                     "training.max_steps": -1,
                                     "eval.judge_url": "http://127.0.0.1:8000/v1"})
    assert ok.lora_targets() == ["q_proj", "v_proj"]
    assert RunConfig().with_overrides({"lora.target_modules": "all-linear",
                                       "training.max_steps": 1}).training.max_steps == 1
