"""When a run must stop because its numbers stopped being numbers, without a host sync per step.

- The loss itself is NaN or Inf: stop (under every precision).
- Without a loss scaler (``32-true``, ``bf16-mixed``): NaN or Inf in the gradients stops the run.
- With one (``16-mixed``): ``torch.amp.GradScaler`` checks the unscaled gradients itself and
  skips every step where they overflow, halving its scale. That is normal: the scale starts at
  2^16 and the first few steps of fp16 training usually overflow, and a healthy run later skips
  about one step in 2,000 when the scale has grown back. Such steps change no weight. Only
  ``MAX_SKIPPED_STEPS`` skips in a row stop the run.

Why 25 in a row: each skip halves the scale, so 25 skips take it from its starting 2^16 down to
2^-9. Gradients that still overflow fp16 (65504) at that scale are above 3e7 or NaN: the run has
diverged, and no further halving will rescue it. A healthy run never needs more than the ~16
skips that bring 2^16 down to 1.

All flags live on the training device and are updated with tensor operations; they are read on
the host (one sync) every ``check_every`` steps (1 on CPU, where reading costs nothing), before
every checkpoint is written, and at the end of training. A stop therefore names the first bad
step, and no checkpoint written after it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from dfcvae.errors import NonFiniteLossError

MAX_SKIPPED_STEPS = 25
CHECK_EVERY_ON_GPU = 50
ADVICE = "stopped, the last good checkpoint is kept: lower --lr or set --gradient-clip"


class NonFiniteGuard:
    """Device-side record of the first non-finite loss, the first non-finite gradients (without a
    scaler) and the longest run of steps the scaler skipped; ``check`` raises
    ``NonFiniteLossError`` if any happened."""

    def __init__(self, device: torch.device, max_skipped: int = MAX_SKIPPED_STEPS):
        self.device = torch.device(device)
        self.max_skipped = max_skipped
        self.check_every = 1 if self.device.type == "cpu" else CHECK_EVERY_ON_GPU
        # [step, total, kl, reconstruction] of the first bad step of each kind; step -1: none.
        self.bad_loss = torch.tensor([-1.0, 0.0, 0.0, 0.0], device=self.device, dtype=torch.float64)
        self.bad_gradients = self.bad_loss.clone()
        self.skip_stop = self.bad_loss.clone()
        self.skipped_in_row = torch.zeros((), dtype=torch.long, device=self.device)
        self.skipped_total = self.skipped_in_row.clone()
        self._terms = self.bad_loss.clone()
        self._scale_before: torch.Tensor | None = None

    def _record(self, slot: torch.Tensor, bad: torch.Tensor) -> None:
        """Fill ``slot`` with this step's [step, terms] if ``bad`` and it is still empty."""
        first = bad & (slot[0] < 0)
        slot.copy_(torch.where(first, self._terms, slot))

    def loss(self, step: int, total: torch.Tensor, kl: torch.Tensor, reconstruction: torch.Tensor):
        """After the training step's forward pass: note the loss terms, flag a non-finite loss."""
        values = [
            t.detach().to(self.device, torch.float64).reshape(1)
            for t in (total, kl, reconstruction)
        ]
        step_tensor = torch.full((1,), float(step), dtype=torch.float64, device=self.device)
        self._terms = torch.cat([step_tensor, *values])
        self._record(self.bad_loss, ~torch.isfinite(self._terms[1]))

    def gradients(self, grads: Iterable[torch.Tensor], scaler: torch.amp.GradScaler | None):
        """Before the optimizer step (after the scaler unscaled them, when it does): without a
        scaler, flag non-finite gradients; with one, remember its scale to see whether it skips."""
        if scaler is not None and scaler.is_enabled():
            self._scale_before = (
                scaler._scale.detach().clone() if scaler._scale is not None else None
            )
            return
        grads = [g for g in grads if g is not None]
        if grads:
            norms = torch.stack(torch._foreach_norm(grads))
            self._record(self.bad_gradients, ~torch.isfinite(norms).all().to(self.device))

    def after_step(self, scaler: torch.amp.GradScaler | None) -> None:
        """After the optimizer step and ``scaler.update()``: a skipped step is one whose update
        lowered the scale (GradScaler backs off exactly when it found Inf or NaN)."""
        if scaler is None or self._scale_before is None or scaler._scale is None:
            return
        skipped = (scaler._scale < self._scale_before).to(self.device)
        self._scale_before = None
        self.skipped_in_row.copy_((self.skipped_in_row + 1) * skipped)
        self.skipped_total.add_(skipped.long())
        self._record(self.skip_stop, self.skipped_in_row >= self.max_skipped)

    def due(self, step: int) -> bool:
        return step % self.check_every == 0

    def check(self) -> None:
        """Read the flags (one host sync) and raise for the earliest stop found."""
        rows = torch.stack([self.bad_loss, self.bad_gradients, self.skip_stop]).tolist()
        found = [(row[0], kind, row[1:]) for kind, row in enumerate(rows) if row[0] >= 0]
        if not found:
            return
        step, kind, (total, kl, reconstruction) = min(found)
        terms = f"kl={kl:.4g}, reconstruction={reconstruction:.4g}"
        if kind == 0:
            message = f"the loss is {total} ({terms})"
        elif kind == 1:
            message = f"NaN or Inf in the gradients (loss={total:.4g}, {terms})"
        else:
            message = (
                f"the fp16 loss scaler skipped {self.max_skipped} steps in a row (NaN or Inf in "
                f"the gradients however far it lowered its scale; loss={total:.4g}, {terms})"
            )
        advice = ADVICE + (", or train in --precision bf16-mixed or 32-true" if kind == 2 else "")
        raise NonFiniteLossError(f"step {int(step)}: {message}; {advice}")
