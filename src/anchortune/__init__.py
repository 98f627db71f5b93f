"""anchortune: fine-tune a small open language model for one job from anchor points, with the evidence."""

__version__ = "0.1.0"
