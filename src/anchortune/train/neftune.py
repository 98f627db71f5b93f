"""NEFTune noise for packed rows: every example gets the noise of its own length.

NEFTune (Jain et al., 2023) adds uniform noise in [-m, m] to the input embeddings while training, with
m = alpha / sqrt(L * d) for a sequence of L tokens and embedding width d. transformers' hook takes L from
the tensor's width, which for a packed row (engine/collate.py, PackCollator) is the whole row: with two
examples a row, each got about 1/sqrt(2) of the noise it would get alone, and less again in longer rows.
Here the hook reads the row's example bounds (`cu_seq_lens_q`, set by the trainer before each forward
through `bounds`) and scales each example's noise by its own length; a batch without bounds (padded rows)
is scaled by its width, as transformers does. Nothing is added outside training mode. The noise is drawn from a
generator of the run's own, seeded with its seed: never from torch's process-wide one, which another run in the same
process (the studio's workers are threads) draws from too.
"""

from __future__ import annotations

import contextlib


class _Noise:
    """The hook's state: alpha and the bounds of the row about to be embedded."""

    def __init__(self, alpha: float, seed: int):
        self.alpha = alpha
        self.seed = seed
        self.bounds = None
        self.generator = None

    def __call__(self, module, inputs, output):
        if not module.training:
            return output
        import torch

        width, dim = output.shape[-2], output.shape[-1]
        if self.bounds is None:
            lengths = torch.full((width,), float(width), device=output.device)
        else:
            bounds = self.bounds.to(device=output.device, dtype=torch.long)
            sizes = (bounds[1:] - bounds[:-1]).float()
            lengths = torch.repeat_interleave(sizes, (bounds[1:] - bounds[:-1]))
        magnitude = (self.alpha / torch.sqrt(lengths * dim)).to(output.dtype)[:, None]  # [tokens, 1]
        if self.generator is None or self.generator.device != output.device:
            self.generator = torch.Generator(device=output.device).manual_seed(self.seed)
        return output + torch.empty_like(output).uniform_(-1, 1, generator=self.generator) * magnitude


def hook(alpha: float | None, seed: int = 0) -> _Noise | None:
    """The noise hook's state for a run (None without alpha): the Trainer is handed it, and `attached` puts it on
    the model while the training runs."""
    return _Noise(alpha, seed) if alpha else None


@contextlib.contextmanager
def attached(model, state: _Noise | None):
    """Within this context the model's input embeddings get the noise of `state` while in training mode."""
    if state is None:
        yield None
        return
    handle = model.get_input_embeddings().register_forward_hook(state)
    try:
        yield state
    finally:
        handle.remove()


@contextlib.contextmanager
def noise(model, alpha: float | None, seed: int = 0):
    """Within this context the model's input embeddings get NEFTune noise while in training mode; yields the
    hook state (set its `bounds` to a packed row's cu_seq_lens_q before each forward), or None without alpha."""
    with attached(model, hook(alpha, seed)) as state:
        yield state
