"""Saving a trained model: the adapter and a merged model that plain transformers loads and that computes what
the adapter over its base computes, at full strength and at a blended adapter scale; a failed save leaves nothing."""

from __future__ import annotations

import pytest
import torch

from anchortune.export.merge import atomic_dir, save_outputs


class NoTokenizer:
    def save_pretrained(self, folder) -> None:
        (folder / "tokenizer_config.json").write_text("{}")


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_merged_model_and_the_saved_adapter_compute_the_adapters_blend(lora_model, tmp_path, scale):
    from peft import PeftModel
    from peft.helpers import rescale_adapter_scale
    from transformers import AutoModelForCausalLM

    ids = torch.randint(0, 96, (2, 12), generator=torch.Generator().manual_seed(1))
    lora_model.eval()
    base = lora_model.get_base_model().state_dict()
    base = {k.replace("base_layer.", ""): v.clone() for k, v in base.items() if "lora_" not in k}
    with torch.no_grad(), rescale_adapter_scale(lora_model, scale):
        expected = lora_model(input_ids=ids).logits
    lora_model.config.use_cache = False  # as training leaves it
    with rescale_adapter_scale(lora_model, scale):  # the balance sweep saves the blend it chose
        saved = save_outputs(lora_model, NoTokenizer(), tmp_path, scale=scale)
    merged = AutoModelForCausalLM.from_pretrained(saved["model"]).eval()
    assert merged.config.use_cache and not lora_model.config.use_cache  # generation with its cache; the run as it was
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)
    fresh = AutoModelForCausalLM.from_config(merged.config)
    fresh.load_state_dict(base, strict=False)
    reloaded = PeftModel.from_pretrained(fresh, str(saved["adapter"])).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-4)
    assert not list(tmp_path.glob(".*"))  # no temporary folder left


def test_a_failed_save_leaves_the_previous_folder_untouched(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("kept")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"\0" * 10)
            raise RuntimeError("disk full")
    assert [p.name for p in target.iterdir()] == ["old.txt"] and not list(tmp_path.glob(".*"))
