"""Run options: the preset fills what the user left open, shaped by the profile; explicit options always win; bad
values are one ConfigError naming the field."""

from __future__ import annotations

import pytest

from anchortune.config import RunConfig
from anchortune.data.presets import load_preset
from anchortune.errors import ConfigError


@pytest.mark.parametrize("profile,rank,epochs,rate", [("conservative", 0.5, 2 / 3, 0.5), ("balanced", 1, 1, 1),
                                                      ("aggressive", 2, 1.5, 1.5)])
def test_a_profile_scales_the_presets_defaults(profile, rank, epochs, rate):
    preset = load_preset("support")
    hp = preset.hyperparameters
    cfg = RunConfig.build(data="d.jsonl", task="support", profile=profile).resolve(preset)
    assert cfg.epochs == pytest.approx(hp.epochs * epochs) and cfg.learning_rate == pytest.approx(hp.learning_rate * rate)
    assert cfg.lora_r == max(4, int(hp.lora_r * rank)) and cfg.batch_size == hp.batch_size


def test_explicit_options_win_over_the_profile():
    cfg = RunConfig.build(data="d.jsonl", profile="aggressive", learning_rate=1e-5, lora_r=3).resolve(
        load_preset("custom"))
    assert cfg.learning_rate == 1e-5 and cfg.lora_r == 3


@pytest.mark.parametrize("values,field", [({"learning_rate": -1}, "--lr must be a finite number > 0 and <= 1, not -1"),
                                          ({"learning_rate": 1e9}, "--lr must be a finite number > 0 and <= 1, not "
                                                                   "1000000000.0"),
                                          ({"profile": "wild"}, "--profile must be one of conservative"),
                                          ({"delimiter": ";;"}, "--delimiter must be one character"),
                                          ({"unknown": 1}, "unknown option 'unknown'")])
def test_bad_options_name_their_field(values, field):
    with pytest.raises(ConfigError, match=field):
        RunConfig.build(data="d.jsonl", **values)


def test_a_config_survives_its_yaml(tmp_path):
    cfg = RunConfig.build(data="d.jsonl", task="legal", delimiter=";", replay=0.1)
    assert RunConfig.build(**__import__("yaml").safe_load(cfg.dump())) == cfg
