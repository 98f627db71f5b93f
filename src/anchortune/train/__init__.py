"""Training on transformers' Trainer and PEFT: precision, batching, events, the engine."""
