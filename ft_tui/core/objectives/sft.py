"""Supervised fine-tuning: learn to give the example answers (TRL's SFTTrainer).

Rows are conversations (chat, ShareGPT, Alpaca, prompt/completion, text); the trainer gets
them pre-tokenised with token-exact loss masks (``TrainData.tokenize``,
``ft_tui.core.data.masks``), and the exported script trains on those very rows.
"""

from __future__ import annotations

from typing import Any

from ft_tui.core.objectives.base import Objective, load_rows


class SFT(Objective):
    name = "sft"
    label = "SFT"
    formats = ()   # every format no other objective claims (chat, ShareGPT, Alpaca, ...)
    needs = "one answer per prompt to imitate (SFT data)"
    evaluation = "answers"
    script = "tokenized"
    trl_import = "from trl import SFTConfig, SFTTrainer"
    config_class, trainer_class = "SFTConfig", "SFTTrainer"

    def train_data(self, cfg):
        from ft_tui.core.objectives.split import split_held_out
        from ft_tui.core.training.dataset import build_train_data

        train, held_out = split_held_out(cfg, load_rows)
        return build_train_data(train, held_out, completion_only=cfg.training.completion_only_loss,
                                system_prompt=cfg.data.system_prompt,
                                train_on=getattr(cfg.data, "train_on", "all_assistant"),
                                max_length=None if cfg.training.packing else cfg.data.max_length)

    def trainer_kwargs(self, cfg, *, has_eval: bool, completion_only: bool = True) -> dict[str, Any]:
        from ft_tui.core.training.sft_args import sft_kwargs

        return sft_kwargs(cfg, has_eval=has_eval, completion_only=completion_only)

    def prepare(self, cfg, data, precision, device, log, note):
        from ft_tui.core.training.builder import load_model_and_tokenizer, load_run_tokenizer
        from ft_tui.core.training.sft_args import completion_only

        loaded = load_run_tokenizer(cfg, log=log, note=note)
        data.answers_only = completion_only(data)   # before tokenize() changes data.shape
        # Every assistant turn, by token-exact masks; rows truncation leaves untrained are
        # named here, before the slow model load.
        for message in data.tokenize(loaded[0]):
            note(message)
        model, tokenizer, _base = load_model_and_tokenizer(cfg, precision, device, log=log,
                                                           loaded=loaded)
        return model, tokenizer, None

    def build_config(self, cfg, checkpoints_dir, precision, device, *, has_eval, data,
                     world_size=1):
        from ft_tui.core.training.builder import build_sft_config

        return build_sft_config(cfg, checkpoints_dir, precision, device, has_eval=has_eval,
                                completion_only=getattr(data, "answers_only", True),
                                world_size=world_size)

    def make_trainer(self, model, tokenizer, args, data, callback, cfg, peft_config):
        from trl import SFTTrainer

        from ft_tui.core.training.builder import hand_to_trainer

        trainer = hand_to_trainer(SFTTrainer, model, tokenizer, args, data, callback, cfg)
        callback.watch_batches(trainer)
        return trainer

    def method_label(self, cfg) -> str:
        return cfg.method
