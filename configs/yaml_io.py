"""Reading YAML safely and strictly: `safe_load` semantics, but a duplicated key is an error.

PyYAML's `safe_load` keeps the last of two equal keys without a word, so a file with `train:`
twice silently trains the second block. Every YAML file scalinglab reads (sweeps and model
presets) goes through `read_yaml`, which rejects duplicates at any depth, naming the key and
both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from configs.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping holding the same key twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}: line {line}: key '{key}' is defined twice (first on line "
                f"{seen[key]}); YAML would silently keep only the last one — merge the two blocks or remove one"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text strictly (see module docstring); `source` names it in errors."""
    loader = _StrictLoader(text)
    loader.name = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(_one_line(err, source)) from None
    finally:
        loader.dispose()


def _one_line(err: yaml.YAMLError, source: str) -> str:
    """PyYAML's multi-line report as `file:line:col: problem (context at line L); fix`."""
    mark = getattr(err, "problem_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark is not None:
        problem += f" ({context} opened at line {context_mark.line + 1})"
    return (f"{where}: not valid YAML: {problem}; check the indentation, brackets and quotes there "
            "(a value holding ': ' or ' #' needs quotes)")


def read_yaml(path: Path) -> Any:
    """Read and parse a YAML file strictly."""
    return parse_yaml(path.read_text(), source=str(path))
