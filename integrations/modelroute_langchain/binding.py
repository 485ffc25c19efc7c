"""Tools and structured output bound to a router: what each request then needs, and how
the answer that passed the engine's checks becomes the caller's object.

Every candidate is bound explicitly (`bind_tools` / `with_structured_output` on each chat
model, never through attribute forwarding). The request carries the tools and the JSON
schema, so the engine's capability check skips candidates that cannot do them and its
`json_schema` validator rejects invalid answers (`invalid_output:json_schema`), which
moves on to the next candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.json import parse_json_markdown
from pydantic import BaseModel, ValidationError

from modelroute.types import JSONDict

__all__ = ["Binding", "json_schema_of", "openai_tools"]


def openai_tools(tools: Sequence[Any]) -> tuple[JSONDict, ...]:
    """Tools (BaseTool, functions, pydantic classes, dicts) in OpenAI's format."""
    return tuple(convert_to_openai_tool(tool) for tool in tools)


def json_schema_of(schema: Any) -> JSONDict:
    """The JSON Schema of a pydantic class, a TypedDict, an OpenAI function or a schema dict."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return convert_to_json_schema(schema)


@dataclass(frozen=True, slots=True)
class Binding:
    """What a bound router adds to every request, and how it shapes the answer.

    `tools` are the bound tools in OpenAI's format (for the capability check); `schema`
    is the structured-output schema as the caller gave it, `json_schema` its JSON Schema;
    `include_raw` returns `{"raw", "parsed", "parsing_error"}` like LangChain does.
    """

    tools: tuple[JSONDict, ...] | None = None
    schema: Any = None
    json_schema: JSONDict | None = None
    include_raw: bool = False

    @property
    def structured(self) -> bool:
        """The router answers with a parsed object instead of a message."""
        return self.json_schema is not None

    def parse(self, text: str) -> Any:
        """The caller's object from an answer the engine accepted: an instance of a pydantic
        schema, else the JSON value. Raises `OutputParserException` if it does not parse."""
        try:
            value = parse_json_markdown(text)
            if isinstance(self.schema, type) and issubclass(self.schema, BaseModel):
                return self.schema.model_validate(value)
        except (ValueError, ValidationError) as exc:
            raise OutputParserException(f"structured output did not parse: {exc}") from exc
        return value
