"""Pure tests: a function's tool schema from its hints and docstring; arguments checked
against it; a result as the text a model is sent."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal

import pydantic
import pytest
from typing_extensions import TypedDict

from nbchat.errors import ConfigurationError
from nbchat.tool_result import MAX_ROWS, result_text
from nbchat.tool_schema import ToolArgumentError, tool_spec


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Filter(pydantic.BaseModel):
    column: str
    value: float


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Window(TypedDict):
    start: int
    end: int


class Node(pydantic.BaseModel):
    name: str
    children: list[Node] = []


class Handle:
    pass


def numpy_style(
    table: str,
    limit: int = 10,
    order: Literal["asc", "desc"] = "asc",
    columns: list[str] | None = None,
) -> str:
    """Show the first rows of a table.

    Rows come sorted by the table's key.

    Parameters
    ----------
    table : str
        The table's name.
    limit : int
        How many rows at most.
    order
        Sort order.
    columns
        Which columns (all when left out).
    """
    return table


def google_style(name: str, scale: float | None = None, tags: dict[str, int] | None = None) -> str:
    """Say hello.

    Args:
        name: Who to greet.
        scale: How loud.
        tags: Labels and their weights.
    """
    return name


def test_numpy_docstring_and_hints_make_the_schema() -> None:
    spec = tool_spec(numpy_style)
    assert spec.name == "numpy_style"
    assert (
        spec.description
        == "Show the first rows of a table.\n\nRows come sorted by the table's key."
    )
    props = spec.parameters["properties"]
    assert spec.parameters["type"] == "object" and spec.parameters["required"] == ["table"]
    assert props["table"] == {"type": "string", "description": "The table's name."}
    assert props["limit"] == {
        "type": "integer",
        "default": 10,
        "description": "How many rows at most.",
    }
    assert (
        props["order"]["enum"] == ["asc", "desc"] and props["order"]["description"] == "Sort order."
    )
    assert {"type": "array", "items": {"type": "string"}} in props["columns"]["anyOf"]
    assert "title" not in json.dumps(spec.parameters)


def test_google_docstring() -> None:
    spec = tool_spec(google_style)
    assert spec.description == "Say hello."
    props = spec.parameters["properties"]
    assert props["name"]["description"] == "Who to greet."
    assert props["tags"]["description"] == "Labels and their weights."
    assert {"type": "object", "additionalProperties": {"type": "integer"}} in props["tags"]["anyOf"]


def test_dataclasses_models_enums_and_typed_dicts_are_inlined_and_arrive_typed() -> None:
    seen: dict[str, Any] = {}

    def plot(
        point: Point, where: Filter, color: Color, window: Window, async_: bool = False
    ) -> None:
        seen.update(point=point, where=where, color=color, window=window)

    spec = tool_spec(plot, name="plot")
    text = json.dumps(spec.parameters)
    assert "$ref" not in text and "$defs" not in text
    props = spec.parameters["properties"]
    assert props["point"]["properties"]["x"] == {"type": "number"}
    assert props["color"]["enum"] == ["red", "blue"]
    args = spec.arguments(
        '{"point": {"x": 1}, "where": {"column": "a", "value": "2.5"}, "color": "blue",'
        ' "window": {"start": 1, "end": 2}}'
    )
    plot(**args)
    assert seen["point"] == Point(1.0, 0.0) and seen["where"] == Filter(column="a", value=2.5)
    assert seen["color"] is Color.BLUE and seen["window"] == {"start": 1, "end": 2}
    assert "async_" not in args  # left out: the function's default applies


def test_recursive_types_keep_their_reference() -> None:
    def tree(root: Node) -> None: ...

    spec = tool_spec(tree)
    assert "$defs" in spec.parameters and "Node" in spec.parameters["$defs"]


def test_bad_arguments_are_explained_for_the_model() -> None:
    spec = tool_spec(numpy_style)
    with pytest.raises(ToolArgumentError) as caught:
        spec.arguments('{"limit": "many", "order": "sideways", "extra": 1}')
    message = str(caught.value)
    assert message.startswith("invalid arguments for numpy_style:")
    for part in ("table: Field required", "limit:", "order:", "extra: Extra inputs"):
        assert part in message
    with pytest.raises(ToolArgumentError, match="JSON"):
        spec.arguments("{not json")
    assert tool_spec(lambda: None, name="noargs").arguments("") == {}


def test_what_cannot_be_a_tool_says_why() -> None:
    def star(*values: int) -> None: ...

    with pytest.raises(ConfigurationError, match=r"\*values cannot be described"):
        tool_spec(star)
    with pytest.raises(ConfigurationError, match="tool name 'has space'"):
        tool_spec(numpy_style, name="has space")

    def opaque(x: object) -> None: ...

    assert tool_spec(opaque).parameters["properties"]["x"] == {}

    def handle(h: Handle) -> None: ...

    with pytest.raises(ConfigurationError, match="cannot be described as JSON"):
        tool_spec(handle)

    def local() -> None:
        class Inner:
            pass

        def uses(x: Inner) -> None: ...

        tool_spec(uses)

    with pytest.raises(ConfigurationError, match="cannot read its type hints"):
        local()


def test_kwargs_and_unannotated_parameters() -> None:
    def loose(a, b=2, **options):  # type: ignore[no-untyped-def]
        return a

    spec = tool_spec(loose)
    assert set(spec.parameters["properties"]) == {"a", "b"}
    assert spec.arguments({"a": [1, 2]}) == {"a": [1, 2]}


# -- results ------------------------------------------------------------------------------


def test_results_by_type() -> None:
    assert result_text("plain text") == "plain text"
    assert result_text(None) == "null"
    assert result_text({"a": [1, 2.5, True]}) == '{"a": [1, 2.5, true]}'
    assert result_text(float("nan")) == "nan"  # not JSON: its repr
    assert result_text({1, 2}) == "{1, 2}"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "whose repr failed: no" in result_text(Broken())


def test_long_results_are_cut_and_say_so() -> None:
    text = result_text("x" * 50_000, max_chars=1000)
    assert text.startswith("x" * 1000) and text.endswith("(cut: 49,000 more characters not shown)")


def test_dataframes_are_compact_tables() -> None:
    pd = pytest.importorskip("pandas")
    small = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert result_text(small).splitlines()[0] == "DataFrame: 2 rows × 2 columns"
    big = pd.DataFrame({f"c{i}": range(1000) for i in range(30)})
    text = result_text(big)
    first = text.splitlines()[0]
    assert first.startswith("DataFrame: 1,000 rows × 30 columns (showing part:")
    assert "980 rows" in first and "10 columns" in first
    assert len(text.splitlines()) < MAX_ROWS + 6
    series = pd.Series([1.5, 2.5], name="price")
    assert result_text(series).splitlines()[0] == "Series 'price': 2 rows, dtype float64"


def test_async_functions_and_callable_objects() -> None:
    async def fetch(url: str, retries: int = 2) -> str:
        """Fetch a page."""
        return url

    class Scaler:
        def __call__(self, factor: float) -> float:
            """Scale by a factor."""
            return factor

    assert tool_spec(fetch).parameters["required"] == ["url"]
    spec = tool_spec(Scaler(), name="scale")
    assert spec.parameters["properties"] == {"factor": {"type": "number"}}
    assert spec.description == "Scale by a factor."
    assert spec.arguments({"factor": 2}) == {"factor": 2.0}
