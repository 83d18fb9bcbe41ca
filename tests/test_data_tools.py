"""The built-in data tools: share, describe, a read-only query, the names offered to the
model, and the offline demo answering a question about a shared DataFrame."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nbchat
from nbchat.tools import DATA_TOOLS, describe_data, query_data, share, shared, unshare

pd = pytest.importorskip("pandas")


@pytest.fixture(autouse=True)
def _clean_shelf() -> Iterator[None]:
    yield
    for name in shared():
        unshare(name)


@pytest.fixture
def sales() -> object:
    return pd.DataFrame(
        {
            "region": ["EU", "US", "EU", "APAC"],
            "amount": [10.0, 20.5, 7.25, 3.0],
            "units": [1, 2, 3, 4],
        }
    )


def test_share_names_and_the_model_is_told_them(sales: object) -> None:
    assert shared() == []
    assert share(sales, name="sales") == "sales"
    series = pd.Series([1, 2], name="prices")
    assert share(series) == "prices"
    assert shared() == ["sales", "prices"]
    definition = describe_data.definition()
    assert definition["parameters"]["properties"]["name"]["enum"] == ["sales", "prices"]
    unshare("prices")
    assert query_data.definition()["parameters"]["properties"]["name"]["enum"] == ["sales"]
    with pytest.raises(nbchat.ConfigurationError, match="give the name"):
        share([1, 2, 3])


def test_describe_shows_shape_dtypes_head_and_summary_not_the_data(sales: object) -> None:
    share(sales, name="sales")
    text = describe_data.func("sales")
    assert text.startswith("sales: DataFrame with 4 rows × 3 columns")
    assert "amount    float64" in text and "First rows:" in text and "Numeric summary:" in text
    big = pd.DataFrame({"x": range(10_000)})
    share(big, name="big")
    described = describe_data.func("big")
    assert "9999" not in described.split("Numeric summary")[0]  # only the first rows
    share({"a": 1}, name="config")
    assert describe_data.func("config").startswith("config: dict, 1 items")
    with pytest.raises(ValueError, match="no shared variable 'secret'; the shared ones are"):
        describe_data.func("secret")


def test_query_filters_groups_sorts_and_limits(sales: object) -> None:
    share(sales, name="sales")
    eu = query_data.func("sales", filters=[{"column": "region", "op": "==", "value": "EU"}])
    assert list(eu["amount"]) == [10.0, 7.25]
    totals = query_data.func(
        "sales", group_by=["region"], aggregate={"amount": "sum"}, sort_by="amount", descending=True
    )
    assert list(totals["region"]) == ["US", "EU", "APAC"]
    top = query_data.func("sales", columns=["units"], sort_by="units", limit=1)
    assert top.to_dict("list") == {"units": [1]}
    assert len(query_data.func("sales", limit=10_000)) == 4
    code = "__import__('os').system('echo pwned')"
    none = query_data.func("sales", filters=[{"column": "region", "op": "==", "value": code}])
    assert none.empty  # a value is a value: nothing is evaluated
    with pytest.raises(ValueError, match="no column 'nope'"):
        query_data.func("sales", columns=["nope"])


def test_bad_query_arguments_go_back_to_the_model(sales: object) -> None:
    share(sales, name="sales")
    with pytest.raises(Exception, match="invalid arguments for query_data"):
        query_data.spec.arguments('{"name": "sales", "filters": [{"column": "x", "op": "~="}]}')


async def test_the_demo_answers_about_a_shared_dataframe(sales: object) -> None:
    share(sales, name="sales")
    chat = nbchat.Chat(history=None, tools=DATA_TOOLS)
    reply = await chat.send("What is in sales?")
    assert reply.status == "done"
    assert [(c["name"], c["input"], c["status"]) for c in reply.tool_calls] == [
        ("describe_data", {"name": "sales"}, "done")
    ]
    assert "sales: DataFrame with 4 rows × 3 columns" in reply.content


async def test_data_tools_can_ask_first(sales: object) -> None:
    share(sales, name="sales")
    chat = nbchat.Chat(history=None)
    chat.tools.add(describe_data, approve=True)
    assert chat.tools["describe_data"].approve and not describe_data.approve
    assert chat.tools.definitions()[0]["parameters"]["properties"]["name"]["enum"] == ["sales"]
    asked: list[str] = []
    chat.approve = lambda call, tool: asked.append(tool.name) is None
    reply = await chat.send("What is in sales?")
    assert asked == ["describe_data"] and reply.tool_calls[0]["status"] == "done"
