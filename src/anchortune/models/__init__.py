"""Pretrained models: the built-in catalog, and loading (GGUF -> cached safetensors) with tokenizers."""
