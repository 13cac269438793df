"""YAML text → plain data, strictly and within limits, with libyaml's parser when PyYAML has it.

Strict: a key given twice in one mapping is listed (YAML would keep only the last); merge keys (``<<``) work
as PyYAML's SafeLoader does them, and a key beside ``<<`` overriding a merged one is no duplicate. Limits, so
that no file can take the process's memory or time: nesting deeper than :data:`MAX_DEPTH` levels (counting what
aliases bring in), aliases that add more than :data:`MAX_ALIAS_VALUES` values to what the file writes out (a
"billion laughs" alias bomb is a few hundred bytes), and aliases to a collection from inside it are refused.

Both loaders compose the same node graph; the duplicate and limit checks run on it, before any Python object
is built, and the same :class:`~yaml.SafeLoader` constructor builds the data. When libyaml refuses a text, the
pure-Python loader reads it again, so a file gets the same problem (PyYAML's wording) either way. libyaml is
the more lenient of the two in a few places (a tab inside a plain scalar, ``a? b`` in a flow collection): such
a text loads with libyaml and is "not valid YAML" without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exporter.config.validate import cut, shown

MAX_DEPTH = 100
MAX_ALIAS_VALUES = 1_000_000

_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels, the limit for a config file"


class YamlProblem(Exception):
    """The one problem that stops a text from being read, with its place (``line L, column C: ...``)."""


class _Limit(Exception):
    def __init__(self, mark: Any, problem: str):
        super().__init__(f"{_at(mark)}{problem}")


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _strict_scalars(loader: type[yaml.SafeLoader] | type[Any]) -> None:
    """PyYAML's constructors for these tags raise ValueError, KeyError or AttributeError on a value they cannot
    read (``!!int x``, ``2020-13-45``, an integer of 5,000 digits): make that a YAML problem with its place."""
    for tag in ("bool", "int", "float", "timestamp"):
        full_tag = f"tag:yaml.org,2002:{tag}"
        loader.add_constructor(full_tag, _refusing(loader.yaml_constructors[full_tag], tag))


def _refusing(construct: Callable[[Any, ScalarNode], Any], kind: str) -> Callable[[Any, ScalarNode], Any]:
    def construct_or_refuse(loader: Any, node: ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, AttributeError, OverflowError, TypeError) as exc:
            reason = f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""
            raise ConstructorError(None, None, f"cannot read {shown(node.value)} as {kind}{reason}",
                                   node.start_mark) from None
    return construct_or_refuse


class _PureLoader(yaml.SafeLoader):
    """PyYAML's own loader; its composer recurses per level, so the depth limit is checked as it composes."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self._depth >= MAX_DEPTH and parent is not None:
            raise _Limit(parent.start_mark, _TOO_DEEP)  # the collection at the limit that holds more
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_strict_scalars(_PureLoader)


def _libyaml_loader() -> type[Any] | None:
    """libyaml's parser, from 0.2.5 on (it stops at 1,000 levels of nesting; older ones recurse without end)."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    from yaml import _yaml

    if tuple(_yaml.get_version()) < (0, 2, 5):
        return None

    class LibyamlLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        pass

    _strict_scalars(LibyamlLoader)
    return LibyamlLoader


_LIBYAML = _libyaml_loader()
_fast: type[Any] | None = _LIBYAML


def use_libyaml(enabled: bool) -> None:
    """Load with libyaml (when PyYAML has it) or with the pure-Python loader (for tests and benchmarks)."""
    global _fast  # noqa: PLW0603 - a process-wide choice, like PyYAML's own
    _fast = _LIBYAML if enabled else None


def libyaml_in_use() -> bool:
    return _fast is not None


def load_yaml(text: str) -> tuple[Any, list[str]]:
    """The document and the duplicate-key problems (``line 9: duplicate key 'accounts' (first on line 5); ...``).
    Raises :class:`YamlProblem` for text that is not YAML or is over a limit."""
    try:
        if _fast is not None:
            try:
                return _load(_fast, text)
            except _ParserRefused:
                pass  # the pure-Python loader says why, in the words it always has
        try:
            return _load(_PureLoader, text)
        except _ParserRefused as refused:
            raise YamlProblem(_yaml_problem(refused.error)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(_yaml_problem(exc)) from None
    except _Limit as exc:
        raise YamlProblem(str(exc)) from None


class _ParserRefused(Exception):
    def __init__(self, error: yaml.YAMLError):
        self.error = error


def _load(loader_class: type[Any], text: str) -> tuple[Any, list[str]]:
    loader = loader_class(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _ParserRefused(exc) from None
        if node is None:
            return None, []
        duplicates, aliased = _check_tree(node, loader)
        if aliased:
            _check_aliases(node)
        return loader.construct_document(node), duplicates
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line, whatever PyYAML wrote
    return f"{_at(mark)}not valid YAML: {cut(problem)}"


def _check_tree(root: Node, loader: Any) -> tuple[list[str], bool]:
    """The collections in document order, each once: the written depth, duplicate keys, and whether any
    collection is used again through an alias. (A scalar's alias adds one value: no limit to check.)"""
    duplicates: list[str] = []
    seen: set[Node] = set()
    aliased = False
    stack = [] if isinstance(root, ScalarNode) else [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if node in seen:
            aliased = True
            continue
        seen.add(node)
        if depth >= MAX_DEPTH and node.value:
            raise _Limit(node.start_mark, _TOO_DEEP)  # where the pure-Python composer stops too
        if isinstance(node, MappingNode):
            _find_duplicates(node, loader, duplicates)
            for key_node, value_node in reversed(node.value):
                if not isinstance(value_node, ScalarNode):
                    stack.append((value_node, depth + 1))
                if not isinstance(key_node, ScalarNode):
                    stack.append((key_node, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in reversed(node.value) if not isinstance(item, ScalarNode))
    return duplicates, aliased


def _find_duplicates(node: MappingNode, loader: Any, duplicates: list[str]) -> None:
    """Keys given twice in the mapping as written (before ``<<`` merges anything into it)."""
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
            continue  # "<<: *anchor": the explicit keys beside it override the merged ones
        key = key_node.value if key_node.tag == _STR else loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            continue  # null, dates, binary: not keys a config has, and unhashable ones are refused later
        line = key_node.start_mark.line + 1
        if key in first_line:
            duplicates.append(f"line {line}: duplicate key {shown(key)} (first on line {first_line[key]}); "
                              "YAML would keep only the last")
        else:
            first_line[key] = line


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            yield key_node
            yield value_node
    else:
        yield from node.value


def _check_aliases(root: Node) -> None:
    """Depth-first over the collections, each one's height and size (values, aliases expanded) once it is done;
    every use of a collection already done is an alias, which adds its size to what the file does not write out."""
    done: dict[Node, tuple[int, int]] = {}  # → (height, size)
    open_nodes = {root}
    frames: list[list[Any]] = [[root, _children(root), 1, 1]]  # node, children left, height, size
    added = 0
    while frames:
        frame = frames[-1]
        child = next(frame[1], None)
        if child is None:
            frames.pop()
            open_nodes.discard(frame[0])
            done[frame[0]] = (frame[2], frame[3])
            if frames:
                frames[-1][2] = max(frames[-1][2], frame[2] + 1)
                frames[-1][3] += frame[3]
        elif isinstance(child, ScalarNode):
            frame[2], frame[3] = max(frame[2], 2), frame[3] + 1
        elif child in done:
            height, size = done[child]
            added += size
            if added > MAX_ALIAS_VALUES:
                raise _Limit(frame[0].start_mark, f"YAML aliases add more than {MAX_ALIAS_VALUES:,} values to what "
                                                  "the file writes out (the limit for a config file)")
            if len(frames) + height > MAX_DEPTH:
                raise _Limit(frame[0].start_mark, f"with its aliases expanded, {_TOO_DEEP}")
            frame[2], frame[3] = max(frame[2], height + 1), frame[3] + size
        elif child in open_nodes:
            raise _Limit(frame[0].start_mark, "an alias refers to a collection it is inside of (a structure "
                                              "without end)")
        else:
            open_nodes.add(child)
            frames.append([child, _children(child), 1, 1])
