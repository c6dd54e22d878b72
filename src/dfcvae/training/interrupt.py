"""Ctrl-C during ``trainer.fit`` as a ``KeyboardInterrupt``.

Lightning catches the interrupt itself, tears the trainer down, ignores SIGINT from then on and
calls ``sys.exit(1)``: the caller would see a plain exit status 1 and could not tell an interrupt
from a failure. Inside ``interruptible(trainer)`` that exit becomes a ``KeyboardInterrupt`` again
(the CLI prints one line and exits with 130) and Ctrl-C works again afterwards.

Upstream: Lightning swallows the interrupt (Lightning-AI/pytorch-lightning#11924) and, since
#19976, ends it with ``sys.exit(1)``; ``tests/test_training.py``
(``test_ctrl_c_mid_training_is_a_keyboard_interrupt_and_resumable``) fails when that
changes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L


@contextmanager
def interruptible(trainer: L.Trainer) -> Iterator[None]:
    try:
        yield
    except SystemExit:
        if not trainer.interrupted:
            raise
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt from None
