"""Fixtures of the training tests: a tiny Llama with a LoRA adapter that has already moved off its start."""

from __future__ import annotations

import pytest


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
