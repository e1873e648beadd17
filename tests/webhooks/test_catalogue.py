"""The catalogue stays true: every event type the source records is in it, and patterns
match as documented."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxprism.webhooks.catalogue import CATALOGUE, is_valid_pattern, matches, unknown_patterns

SOURCE = Path(__file__).resolve().parents[2] / "src" / "cxprism"
EVENT_TYPE = re.compile(r"^[a-z][a-z_]*(\.[a-z_]+)+$")


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level ``NAME = value`` assignments, for names used as event types."""
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            found[node.target.id] = node.value
    return found


def _types_in(expr: ast.expr, constants: dict[str, ast.expr], seen: set[str]) -> set[str]:
    """Event-type strings an expression can produce: its literals and its constants'."""
    types = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if EVENT_TYPE.match(node.value):
                types.add(node.value)
        elif isinstance(node, ast.Name) and node.id in constants and node.id not in seen:
            types |= _types_in(constants[node.id], constants, seen | {node.id})
    return types


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _is_record(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "record"
            and isinstance(func.value, ast.Name) and func.value.id == "events")


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef,
                                                   ast.Call]]:
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    yield function, node


def recorded_types(sources: dict[str, str]) -> tuple[set[str], list[str]]:
    """Event types passed to ``events.record`` and to helpers that pass their argument on;
    and the calls whose type cannot be told (a test failure: use a literal or constant)."""
    trees = {path: ast.parse(text) for path, text in sources.items()}
    types: set[str] = set()
    helpers: set[str] = set()
    unknown: list[str] = []
    for path, tree in trees.items():
        constants = _constants(tree)
        for function, call in _functions(tree):
            if not _is_record(call):
                continue
            type_arg = call.args[2] if len(call.args) > 2 else next(
                (k.value for k in call.keywords if k.arg == "type_"), None)
            assert type_arg is not None, f"{path}:{call.lineno}: events.record without a type"
            params = {a.arg for a in function.args.args + function.args.kwonlyargs}
            if isinstance(type_arg, ast.Name) and type_arg.id in params:
                helpers.add(function.name)  # its callers name the types
                continue
            found = _types_in(type_arg, constants, set())
            if not found:
                unknown.append(f"{path}:{call.lineno}")
            types |= found
    for tree in trees.values():
        constants = _constants(tree)
        for _function, call in _functions(tree):
            if _name(call) in helpers:
                for arg in call.args:
                    types |= _types_in(arg, constants, set())
    return types, unknown


def source_files() -> dict[str, str]:
    return {str(path.relative_to(SOURCE)): path.read_text() for path in SOURCE.rglob("*.py")}


def test_every_recorded_event_type_is_in_the_catalogue() -> None:
    types, unknown = recorded_types(source_files())
    assert not unknown, f"event types that cannot be read from the source at {unknown}"
    # The scan finds each way the domains record events: a literal, a helper, a constant.
    assert {"workspace.created", "user.created", "customer.merged", "message.sent",
            "tracking.events_appended", "webhook_endpoint.disabled"} <= types
    missing = sorted(types - set(CATALOGUE))
    assert not missing, f"add these event types to cxprism/webhooks/catalogue.py: {missing}"


def test_the_scan_notices_an_event_type_the_catalogue_lacks() -> None:
    source = '''
from cxprism.bus import events
KIND = "widget.spun"
TABLE = {"a": "widget.flipped"}
def record_it(session, ws):
    events.record(session, ws, "widget.made", {})
    events.record(session, ws, KIND, {})
    events.record(session, ws, TABLE.get("a", "widget.default"), {})
class Service:
    def _event(self, type_, payload):
        events.record(self.session, self.ws, type_, payload)
    def act(self):
        self._event("widget.acted", {})
def mystery(session, ws, suffix):
    events.record(session, ws, "x" + suffix, {})
'''
    types, unknown = recorded_types({"widget.py": source})
    assert types == {"widget.made", "widget.spun", "widget.flipped", "widget.default",
                     "widget.acted"}
    assert unknown == ["widget.py:15"]


JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}


def test_every_payload_schema_describes_an_object_with_typed_fields() -> None:
    for item in CATALOGUE.values():
        schema = item.schema
        assert item.description and schema["type"] == "object", item.type
        assert schema["required"] == sorted(schema["properties"]), item.type
        for name, field in schema["properties"].items():
            kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
            assert set(kinds) <= JSON_TYPES, (item.type, name)


@pytest.mark.parametrize(("pattern", "event_type", "expected"), [
    ("*", "customer.created", True),
    ("customer.*", "customer.created", True),
    ("customer.*", "customers.created", False),
    ("customer.*", "customer", False),
    ("customer.created", "customer.created", True),
    ("customer.created", "customer.created_later", False),
    ("message.*", "message.status_changed", True),
    ("outbound.*", "outbound.queued", True),
])
def test_patterns_match_as_documented(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_only_known_and_well_formed_patterns_are_accepted() -> None:
    assert unknown_patterns(["*", "message.*", "customer.merged", "outbound.*"]) == []
    assert unknown_patterns(["customer.merge", "*.created", "mess*", "a.*.b", "*.*"]) == [
        "customer.merge", "*.created", "mess*", "a.*.b", "*.*"]
    assert not is_valid_pattern(".*") and not is_valid_pattern("")
