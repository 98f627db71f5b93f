"""Fixtures of the training tests: a tiny Llama with a LoRA adapter that has already moved off its start, and tiny
random models of every family the engine's parity tests cover (`parity`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from anchortune.train.collate import PackCollator, PadCollator


@pytest.fixture
def lora_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter has not
            param.data.normal_(std=0.1)
    return model


SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256)
WINDOW = 4  # sliding windows shorter than the test's examples (6 to 11 tokens)


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**SMALL))


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(**SMALL))
    for name, param in model.named_parameters():
        if name.endswith("bias"):  # Qwen2's q/k/v biases, random and far from zero
            param.data.normal_(std=0.5)
    return model


def _qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(Qwen3Config(**SMALL, head_dim=16))


def _gemma3(**extra):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(**SMALL, head_dim=16, sliding_window=WINDOW, query_pre_attn_scalar=16,
                              layer_types=["sliding_attention", "full_attention"], **extra)
    model = Gemma3ForCausalLM(config)
    for name, param in model.named_parameters():
        if "norm" in name:  # Gemma's norms start at zero (weight 1 + w): move them, q/k norms included
            param.data.normal_(std=0.3)
    return model


def _mistral():
    from transformers import MistralConfig, MistralForCausalLM

    return MistralForCausalLM(MistralConfig(**SMALL, sliding_window=WINDOW))


def _phi3():
    from transformers import Phi3Config, Phi3ForCausalLM

    return Phi3ForCausalLM(Phi3Config(**SMALL, pad_token_id=0))


FAMILIES = {"llama": _llama, "qwen2": _qwen2, "qwen3": _qwen3, "gemma3_text": _gemma3, "mistral": _mistral,
            "phi3": _phi3}


def _lora(build):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(build(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter has not
            param.data.normal_(std=0.1)
    return model


def _examples():
    generator = torch.Generator().manual_seed(1)
    out = []
    for length, prompt in ((9, 3), (6, 2), (11, 4)):
        ids = torch.randint(1, 96, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def _row(packed: bool) -> dict:
    return PackCollator(0, 8)(_examples()) if packed else PadCollator(0)(_examples())


def _error(grads, reference) -> float:
    """The largest gradient difference relative to the reference gradient's norm."""
    return max(((grads[n] - g).norm() / g.norm()).item() for n, g in reference.items())


@pytest.fixture(scope="session")
def parity():
    """The parity tests' helpers: tiny LoRA models by family, their rows (packed or padded), gradient error."""
    return SimpleNamespace(families=FAMILIES, lora=_lora, row=_row, error=_error, gemma3=_gemma3, llama=_llama,
                           qwen2=_qwen2, window=WINDOW)
