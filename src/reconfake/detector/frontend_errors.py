"""The error every front-end loader raises (wav2vec 2.0 and Whisper alike), in a module of its
own so the loaders need not import each other."""

from __future__ import annotations


class FrontendUnavailable(RuntimeError):
    """The front-end's weights cannot be found locally nor downloaded."""
