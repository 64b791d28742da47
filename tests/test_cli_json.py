"""The one argparse type of JSON-object options, shared by both command-line modules."""

import argparse

import pytest

from reconfake.cli_json import json_object


def test_json_object_parses_objects_only():
    assert json_object('{"bitrate": 6000, "seed": [1, 2]}') == {"bitrate": 6000, "seed": [1, 2]}
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a JSON object .*, got '\[1\]'$"):
        json_object("[1]")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^not valid JSON \(.*\): '\{bad'$"):
        json_object("{bad")


def test_both_parsers_use_it():
    from reconfake.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["prepare", "diffssd", "--out-dir", "x", "--options", '{"a": 1}'])
    assert args.options == {"a": 1}
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["register", "diffssd", "--root", "r", "--out-dir", "x", "--options", "3"])
    assert exc.value.code == 2
