"""YAML for configs: safe loading that remembers the line of every key, and a matching dumper.

Only PyYAML's safe loader and dumper are used, so a config can never construct Python objects.
Two changes to plain ``yaml.safe_load``:

- ``1e-3`` is a float. YAML 1.1 (PyYAML) needs a dot (``1.0e-3``) and reads ``1e-3`` as a string.
- duplicate keys in one mapping are errors; PyYAML silently keeps the last one.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import ConfigError, Problem

# `1e-3`, `-2E+4`, `1.5e3`, `.5e-2`: exponent forms YAML 1.1 leaves as strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_FLOAT_FIRST_CHARS = list("-+0123456789.")
MAX_VALUES = 1_000_000  # aliases can make a small file expand to billions of values


class ConfigLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that also reads ``1e-3`` as a float."""


class ConfigDumper(yaml.SafeDumper):
    """`yaml.SafeDumper` that quotes strings `ConfigLoader` would read as floats (``"1e-3"``)."""


for _cls in (ConfigLoader, ConfigDumper):
    # add_implicit_resolver copies the class's resolver table first, so SafeLoader is unchanged.
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, _FLOAT_FIRST_CHARS)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # PyYAML writes NEL and the Unicode line separators raw and reads them back as line breaks;
    # double quotes escape them.
    style = '"' if any(c in text for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


ConfigDumper.add_representer(str, _represent_str)


def read_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse one YAML document; return its data and the 1-based line of every key path.

    Paths in the line map are tuples of strings (``("model", "layers", "1")``); the root is ``()``.
    Raises `ConfigError` for malformed YAML (with yaml's line and column), several documents,
    duplicate keys, recursive aliases and alias bombs.
    """
    try:
        loader = ConfigLoader(text)
    except yaml.reader.ReaderError as e:  # a control character; found before any parsing
        line = text.count("\n", 0, e.position) + 1
        message = f"invalid YAML: character {e.character:#04x} is not allowed ({e.reason})"
        raise ConfigError(Problem(source, line, "", message)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines, problems = _walk(node, source)
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        raise ConfigError(_yaml_problem(e, source)) from None
    except yaml.YAMLError as e:
        raise ConfigError(Problem(source, None, "", f"invalid YAML: {e}")) from None
    except RecursionError:
        raise ConfigError(Problem(source, None, "", "the YAML is nested too deeply")) from None
    finally:
        loader.dispose()
    return data, lines


def parse_scalar(text: str) -> Any:
    """Read a ``--set`` value as YAML: ``3`` is an int, ``1e-3`` a float, ``[1, 2]`` a list."""
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as e:
        detail = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e)
        raise ValueError(f"cannot read {text!r} as a YAML value: {detail}") from None
    except RecursionError:
        raise ValueError(f"cannot read {text[:40]!r}...: nested too deeply") from None


def dump_yaml(data: Any) -> str:
    """Block-style YAML, keys in their given order, that `read_yaml` reads back to ``data``."""
    return yaml.dump(data, Dumper=ConfigDumper, sort_keys=False, allow_unicode=True)


def line_of(lines: dict[tuple[str, ...], int], path: tuple) -> int | None:
    """The line of ``path``, or of its closest ancestor that has one (a missing key: its section)."""
    key = tuple(str(p) for p in path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get(())


def _yaml_problem(e: yaml.MarkedYAMLError, source: str) -> Problem:
    mark = e.problem_mark or e.context_mark
    message = e.problem or e.context or "malformed"
    if e.context and e.problem and e.problem.startswith("but "):  # "expected X" + "but found Y"
        message = f"{e.context}, {e.problem}"
    elif e.context and e.problem:
        message += f" ({e.context}"
        if e.context_mark and mark and e.context_mark.line != mark.line:
            message += f" started at line {e.context_mark.line + 1}"
        message += ")"
    if mark is None:
        return Problem(source, None, "", f"invalid YAML: {message}")
    return Problem(source, mark.line + 1, "", f"invalid YAML: {message}", column=mark.column + 1)


def _walk(root: yaml.Node, source: str) -> tuple[dict[tuple[str, ...], int], list[Problem]]:
    """Record the line of each key path; find duplicate keys, recursive aliases, alias bombs.

    A node reached again through an alias is not walked again: its children keep the lines of
    the place it was written, and paths through the alias fall back to the alias's own line.
    """
    lines: dict[tuple[str, ...], int] = {(): root.start_mark.line + 1}
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                line = key_node.start_mark.line + 1
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if key in first:
                    where = ".".join((*path, key))
                    problems.append(
                        Problem(
                            source, line, where, f"duplicate key (first given at line {first[key]})"
                        )
                    )
                    continue
                first[key] = line
                lines[(*path, key)] = line
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, str(i))] = item.start_mark.line + 1
                stack.append((item, (*path, str(i))))
    if not problems:
        problems += _expansion_problems(root, source)
    return lines, problems


def _expansion_problems(root: yaml.Node, source: str) -> list[Problem]:
    """Aliases that refer to their own ancestors, or expand the document past `MAX_VALUES`."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > MAX_VALUES:
                return [Problem(source, None, "", f"aliases expand it past {MAX_VALUES:,} values")]
            continue
        if id(node) in size:
            continue
        if id(node) in on_path:
            line = node.start_mark.line + 1
            return [Problem(source, line, "", "an alias refers to a node that contains it")]
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return []


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
