"""The argparse ``type`` of every option given as a JSON object on the command line, shared by
:mod:`reconfake.cli` and :mod:`reconfake.corpora.cli`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def json_object(text: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object; argparse prefixes its error with the option name."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"key\": 1}}', got {text!r}")
    return value
