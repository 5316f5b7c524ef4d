"""Reading the YAML: the data, each key's line, ``!env VAR``, ``!secret name`` (from
``secrets.yaml`` beside the configuration, as Home Assistant does) and the ``<field>_file``
secrets.

``Document(text, env)`` composes the text once and keeps, besides the data, the line of every
key path (``("mappings", 2, "topic")``) so any later problem can name its line; ``!env`` values
whose variable is unset are reported once, by name.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .model import Problem, Secret, short

SECRETS_FILE = "secrets.yaml"  # beside the configuration: the values of ``!secret name``

# Secrets that may instead be read from a file, as (section, key): the key ``<key>_file``.
SECRET_FILES = {("exist", "client_secret"), ("mqtt", "password")}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def format_path(path: tuple) -> str:
    """``("mappings", 2, "topic")`` -> ``mappings[2].topic`` (odd keys quoted: ``a['x y']``)."""
    text = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            text += f"[{step}]"
        elif not isinstance(step, str) or not _PLAIN_KEY.match(step):
            text += f"[{short(step)}]"
        else:
            text += f".{step}" if text else step
    return text


def resolve(path: Path, base_dir: Path | None) -> Path:
    """``path`` taken relative to ``base_dir`` (None: the working directory)."""
    return path if path.is_absolute() or base_dir is None else base_dir / path


class _MissingEnv:
    """Stands in for a ``!env`` value whose variable isn't set (reported once, by name)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<unset ${self.name}>"


class UnsetSecret(str):
    """A placeholder for an unset ``!env``/``!secret`` value when secrets are not required
    (``exist-bridge status`` reads local files only)."""

    __slots__ = ()


class _Loader(yaml.SafeLoader):
    env: Mapping[str, str] = os.environ
    lenient: bool = False  # unset !env / !secret values become UnsetSecret placeholders
    missing: list[tuple[yaml.Node, str]]
    secrets_file: Path | None = None
    secrets: dict | str | None = None  # the file's mapping, or why it can't be used
    secrets_lax: str | None = None  # the file's permissions are too open (a warning)
    missing_secrets: list[tuple[yaml.Node, str]]  # (node, the problem)


def _construct_env(loader: _Loader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!env takes a variable name, like !env EXIST_TOKEN", node.start_mark
        )
    name = str(loader.construct_scalar(node)).strip()
    if name in loader.env:
        return loader.env[name]
    loader.missing.append((node, name))
    return UnsetSecret(f"<unset ${name}>") if loader.lenient else _MissingEnv(name)


_Loader.add_constructor("!env", _construct_env)


def lax_permissions(path: Path | None) -> str | None:
    """A warning when the secrets file ``path`` may be read by group/others (as for a token
    file), else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path is not None else 0
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"{path} has group/other permissions (mode {mode:04o}) and holds secrets: "
            f"chmod 600 {path}"
        )
    return None


def _load_secrets(path: Path | None) -> dict | str:
    """``secrets.yaml`` as a mapping, or why it can't be used (Home Assistant's convention:
    the file beside the configuration, ``name: value`` per line)."""
    if path is None:
        return "!secret needs the configuration's directory (no file was read)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"no {path} (it holds the !secret values, one 'name: value' per line)"
    except (OSError, UnicodeDecodeError) as err:
        return f"can't read {path}: {getattr(err, 'strerror', None) or err}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return f"{path} is not valid YAML{where}"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return f"{path} must be a mapping of 'name: value' lines"
    return data


def _construct_secret(loader: _Loader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!secret takes a name, like !secret exist_token", node.start_mark
        )
    name = str(loader.construct_scalar(node)).strip()
    if loader.secrets is None:
        loader.secrets = _load_secrets(loader.secrets_file)
        loader.secrets_lax = lax_permissions(loader.secrets_file)
    if isinstance(loader.secrets, str):
        loader.missing_secrets.append((node, f"!secret {name}: {loader.secrets}"))
        return UnsetSecret(f"<unset !secret {name}>") if loader.lenient else _MissingEnv(name)
    if name not in loader.secrets:
        loader.missing_secrets.append(
            (node, f"!secret {name}: no {name!r} in {loader.secrets_file}")
        )
        return UnsetSecret(f"<unset !secret {name}>") if loader.lenient else _MissingEnv(name)
    value = loader.secrets[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
        kind = {list: "a list", dict: "a mapping", bool: "a boolean"}.get(type(value), "a value")
        loader.missing_secrets.append(
            (
                node,
                (
                    f"!secret {name}: {loader.secrets_file} gives {kind}; a secret must be a "
                    "single string or number (quote it if it is text)"
                ),
            )
        )
        return _MissingEnv(name)
    return value if isinstance(value, str) else str(value) if value is not None else ""


_Loader.add_constructor("!secret", _construct_secret)


# The parser's phrases, in a plain sentence ({start}: the line the construct began on).
_PLAIN_ERRORS = (
    ("cannot start any token", "'\\t'", "a tab character: YAML indents with spaces only"),
    (
        "expected <block end>",
        "",
        "this line is not indented like the lines above it (keys of "
        "one item line up under each other; a new list item starts with '- ')",
    ),
    (
        "could not find expected ':'",
        "",
        "a line without 'key: value', or a value continued on a line indented wrongly",
    ),
    (
        "mapping values are not allowed here",
        "",
        "': ' inside a value: quote the value (\"like: this\"), or check the indentation",
    ),
    ("while scanning a quoted scalar", "", "a quote opened on line {start} is never closed"),
    (
        "while parsing a flow mapping",
        "",
        "a '{{' opened on line {start} is not closed with '}}', "
        "or a comma is missing between its entries",
    ),
    (
        "while parsing a flow sequence",
        "",
        "a '[' opened on line {start} is not closed with ']', "
        "or a comma is missing between its items",
    ),
    ("found undefined alias", "", "'*name' refers to an anchor '&name' that is not defined above"),
    (
        "cannot start any token",
        "",
        "a value starts with a character YAML reserves ('@', '`', '%'): quote the value",
    ),
)


def plain_yaml_error(message: str, start: int | None) -> str | None:
    """A plain sentence for a PyYAML syntax error, or None when it isn't a usual one."""
    for phrase, also, sentence in _PLAIN_ERRORS:
        if phrase in message and also in message:
            if "{start}" in sentence and start is None:
                return None
            return sentence.format(start=start)
    return None


def unclosed_bracket(text: str) -> tuple[str, int] | None:
    """The outermost ``[`` or ``{`` of ``text`` that is never closed, and its line (comments and
    quoted text skipped; a rough scan, for the message only)."""
    stack: list[tuple[str, int]] = []
    line, quote, comment, prev = 1, "", False, " "
    for ch in text:
        if ch == "\n":
            line, comment = line + 1, False
        elif comment:
            pass
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and prev in " \t[{,:":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            comment = True
        elif ch in "[{":
            stack.append((ch, line))
        elif ch in "]}" and stack:
            stack.pop()
        prev = ch
    return stack[0] if stack else None


class Document:
    """The YAML text composed once: the data, each key's line, and problems found on the way."""

    def __init__(
        self,
        text: str,
        env: Mapping[str, str],
        secrets_file: Path | None = None,
        lenient: bool = False,
    ):
        self.lines: dict[tuple, int] = {}
        self.unset_secrets: list[str] = []  # lenient: the keys whose value is not available
        self.secrets_warning: str | None = None  # secrets.yaml readable by group/others
        self.node_paths: dict[int, list[tuple]] = {}  # a node has several paths via aliases
        self.problems: list[Problem] = []
        self.env_missing: list[tuple] = []
        self.env_problems: list[Problem] = []
        # unquoted yes/no/on/off, which YAML reads as booleans: (path, the text written)
        self.yaml_booleans: list[tuple[tuple, str]] = []
        self.data: Any = None
        try:
            loader = _Loader(text)
        except yaml.reader.ReaderError as err:
            line = text[: err.position].count("\n") + 1 if err.position is not None else None
            self.problems.append(Problem("", line, f"YAML error: {err.reason}"))
            return
        loader.env = env
        loader.lenient = lenient
        loader.secrets_lax = None
        loader.missing = []
        loader.secrets_file = secrets_file
        loader.missing_secrets = []
        try:
            root = loader.get_single_node()
            if root is not None:
                self.lines[()] = root.start_mark.line + 1
                self._walk(root, ())
                self.data = loader.construct_document(root)
        except yaml.MarkedYAMLError as err:
            self.problems.append(self._yaml_problem(err, text))
            return
        except yaml.YAMLError as err:
            self.problems.append(Problem("", None, f"YAML error: {err}"))
            return
        except RecursionError:
            self.problems.append(Problem("", None, "YAML error: nested too deeply"))
            return
        finally:
            loader.dispose()
        self.secrets_warning = loader.secrets_lax
        unset = [
            (
                node,
                f"environment variable {name} is not set (from !env {name})"
                if _ENV_NAME.match(name)
                else f"!env needs a variable name, got {name!r}",
            )
            for node, name in loader.missing
        ]
        for node, message in unset + loader.missing_secrets:
            paths = self.node_paths.get(id(node)) or [()]
            if lenient:  # not needed by the caller: only say which keys are unknown
                self.unset_secrets.extend(f"{format_path(p)} ({message})" for p in paths)
                continue
            self.env_missing.extend(paths)
            path = paths[0]
            self.env_problems.append(
                Problem(
                    format_path(path),
                    self.line(path) if path else node.start_mark.line + 1,
                    message,
                )
            )

    @staticmethod
    def _yaml_problem(err: yaml.MarkedYAMLError, text: str = "") -> Problem:
        # Only the parser's own words and the position: the snippet could show a secret.
        mark = err.problem_mark or err.context_mark
        message = " ".join(m for m in (err.context, err.problem) if m) or "YAML syntax error"
        if "unhashable" in message:
            message += ' (is a template unquoted? write "{{ ... }}" in quotes)'
        if "could not determine a constructor" in message:
            message += (
                " (secrets: use !env VAR_NAME or a <field>_file key, or !secret NAME from "
                "secrets.yaml)"
            )
        line = mark.line + 1 if mark is not None else None
        context = err.context_mark
        start = context.line + 1 if context is not None else None
        plain = plain_yaml_error(message, start)
        opened = unclosed_bracket(text) if "<stream end>" in message and not plain else None
        if opened is not None:
            bracket, start = opened
            closing = "]" if bracket == "[" else "}"
            return Problem(
                "",
                start,
                (
                    f"YAML syntax error: a '{bracket}' opened on line {start} is never closed: the "
                    f"file ends before its '{closing}' (the parser: {message})"
                ),
            )
        if (
            plain
            and start is not None
            and ("could not find expected ':'" in message or f"line {start}" in plain)
        ):
            line = start  # where it began: the parser notices it a line (or more) later
        if plain:
            message = f"{plain} (the parser: {message})"
        elif start is not None and line is not None and start != line:
            message += f" (it starts on line {start})"
        return Problem("", line, f"YAML syntax error: {message}")

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        if id(node) in self.node_paths and not isinstance(node, yaml.ScalarNode):
            return  # an alias of a collection already walked (and no billion laughs)
        self.node_paths.setdefault(id(node), []).append(path)
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:bool"
            and node.style is None
            and node.value.lower() not in ("true", "false")
        ):
            self.yaml_booleans.append((path, node.value))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node, merged in self._pairs(node):
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                here = path + (key,)
                if not merged:
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        self.problems.append(
                            Problem(
                                format_path(here),
                                line,
                                f"duplicate key (first on line {seen[key]}); YAML keeps only the "
                                "last",
                            )
                        )
                        continue
                    seen[key] = line
                elif key in seen:
                    continue  # overridden by an explicit key
                else:
                    seen[key] = key_node.start_mark.line + 1
                self.lines[here] = seen[key]
                self._walk(value_node, here)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                self._walk(item, path + (index,))

    @staticmethod
    def _pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """The mapping's pairs (key, value, merged): explicit keys first, then ``<<`` merges."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend((k, v, True) for k, v, _ in Document._pairs(source))
            else:
                yield key_node, value_node, False
        yield from merged

    def line(self, path: tuple) -> int | None:
        """The line of ``path``'s key, else of the nearest enclosing key (for a missing key)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def read_secret_file(path: Path, where: tuple, doc: Document, problems: list[Problem]) -> Any:
    """The secret in the file at ``path`` (content stripped), or None with a problem added at
    ``where`` (the ``<key>_file`` key) when it can't be read or is empty."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        message = f"can't read {path}: {reason}"
        problems.append(Problem(format_path(where), doc.line(where), message))
        return None
    if not text:
        problems.append(Problem(format_path(where), doc.line(where), f"{path} is empty"))
        return None
    return Secret(text)
