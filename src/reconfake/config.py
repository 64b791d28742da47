"""Config validation for the workflow: JSON schema with defaults and readable errors.

``validate_config`` fills defaults from the schema, then reports the first problems as
``config key a.b.c: <what is wrong>; allowed: ...`` so a typo stops the run before any job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml

#: Config keys that decide how a job runs (where, on how many threads, with how much memory),
#: not what it writes. The workflow hands them to jobs through ``threads:`` and ``resources:``,
#: outside ``params``, so changing one reruns nothing. Every other key under ``audio``,
#: ``reconstruction``, ``detector`` and ``training`` reaches the jobs' commands
#: (tests/test_workflow.py checks both). ``*`` is any backend name.
EXECUTION_ONLY_KEYS = frozenset({
    "reconstruction.device",
    "reconstruction.backends.*.mem_mb",
    # backend options (reconfake.paradigms.registry.EXECUTION_ONLY_OPTIONS)
    "reconstruction.backends.*.options.batch_size",
    "reconstruction.backends.*.options.model_batch",
    "reconstruction.backends.*.options.num_threads",
    "reconstruction.backends.*.options.local_files_only",
    "training.threads",
    "training.device",
    "training.mem_mb",
    "training.feature_cache",  # the folder; whether there is one is a result (it fixes the crops)
})

#: the ``training`` keys among :data:`EXECUTION_ONLY_KEYS`
EXECUTION_ONLY_TRAINING = frozenset(k.split(".", 1)[1] for k in EXECUTION_ONLY_KEYS
                                    if k.startswith("training."))


class ConfigError(ValueError):
    """The config does not match its schema; the message names the key."""


def _with_defaults(validator_class: type) -> type:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        if error.schema.get("patternProperties") or not allowed:
            return f"config key {key}: unexpected key(s) {extra}"
        return f"config key {key}: unknown key(s) {extra}; allowed: {allowed}"
    if error.validator == "enum":
        return f"config key {key}: {error.instance!r} is not allowed; allowed: {error.validator_value}"
    return f"config key {key}: {error.message}"


def validate_config(config: dict[str, Any], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` in place against the YAML/JSON schema, filling defaults."""
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = _with_defaults(jsonschema.Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe(e) for e in errors[:5]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return config


def load_config(path: str | os.PathLike[str], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config and validate it."""
    with open(path) as handle:
        config = yaml.safe_load(handle) or {}
    return validate_config(config, schema_path)
