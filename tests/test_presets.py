"""Presets are valid configs that differ where they should and leave the user's choices alone."""

import pytest

from ft_tui.core.config.settings import RunConfig, field_info
from ft_tui.core.config.presets import PRESETS


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_gives_a_valid_config_and_only_known_keys(name):
    for key in PRESETS[name].overrides:
        field_info(key)  # KeyError for a key the config does not have
    cfg = RunConfig().with_overrides(PRESETS[name].overrides)
    cfg.validate()


def test_presets_never_touch_model_data_paths_or_method():
    for preset in PRESETS.values():
        assert not [k for k in preset.overrides
                    if k.startswith("model.") or k in ("method", "data.train_path", "data.eval_path")]


def test_quick_test_is_short_and_quality_has_more_capacity_than_balanced():
    quick = RunConfig().with_overrides(PRESETS["quick_test"].overrides)
    balanced = RunConfig().with_overrides(PRESETS["balanced"].overrides)
    quality = RunConfig().with_overrides(PRESETS["quality"].overrides)
    assert quick.training.max_steps == 30
    assert balanced.training.max_steps == -1 and quality.training.max_steps == -1
    assert quality.lora.r > balanced.lora.r > quick.lora.r
    assert quality.effective_batch > balanced.effective_batch > quick.effective_batch
    for cfg in (quick, balanced, quality):
        assert cfg.lora.alpha == 2 * cfg.lora.r  # the alpha = 2 x rank convention


def test_every_preset_checkpoints_several_times_not_only_at_its_last_step():
    # The Quick test saved its only checkpoint at step 30 = max_steps: an interruption lost it all.
    from ft_tui.core.config.presets import PRESETS
    from ft_tui.core.config.settings import RunConfig

    for preset in PRESETS.values():
        cfg = RunConfig().with_overrides(preset.overrides)
        if cfg.training.max_steps > 0:
            assert cfg.training.save_steps * 3 <= cfg.training.max_steps, preset.name
