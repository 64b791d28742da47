"""The one check of option names: every options dict (backend, corpus, training, detector) is
validated here, so an unknown option reads the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable


def reject_unknown(given: Iterable[str], allowed: Iterable[str], what: str,
                   error: type[Exception] = ValueError) -> None:
    """Raise ``error("<what>: unknown option(s) a, b; allowed: x, y")`` when ``given`` holds a
    name not in ``allowed``.

    Args:
        given: the option names received (a mapping's keys).
        allowed: the accepted names.
        what: who takes the options, e.g. ``"backend opus"``.
        error: the exception type the caller raises for bad input.
    """
    allowed = set(allowed)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise error(f"{what}: unknown option(s) {', '.join(unknown)}; "
                    f"allowed: {', '.join(sorted(allowed))}")
