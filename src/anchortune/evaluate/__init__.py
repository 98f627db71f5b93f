"""Evaluation: answer loss on held-out anchor points and batched generation."""
