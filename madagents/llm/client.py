"""The model behind the agents: any OpenAI-compatible chat endpoint through langchain-openai's ``ChatOpenAI``.

Agents talk to a :class:`ModelClient`; besides :class:`OpenAIClient` there are the recording and replaying
clients of :mod:`madagents.llm.cassette`, and scripted clients in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from pydantic import BaseModel, Field, SecretStr
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from madagents.errors import UserInputError
from madagents.llm.budget import Price

__all__ = [
    "RETRIES",
    "LLMSettings",
    "MissingAPIKeyError",
    "ModelAccessError",
    "ModelClient",
    "OpenAIClient",
    "ToolSchema",
    "is_transient",
    "make_client",
]

ToolSchema = dict[str, Any]
"""An OpenAI function-tool definition (``{"type": "function", "function": {...}}``)."""

TokenCallback = Callable[[str], None]

DEFAULT_PRICES = {
    "gpt-4.1": Price(input_per_mtok=2.0, output_per_mtok=8.0),
    "gpt-4.1-mini": Price(input_per_mtok=0.4, output_per_mtok=1.6),
    "gpt-4.1-nano": Price(input_per_mtok=0.1, output_per_mtok=0.4),
    "gpt-4o": Price(input_per_mtok=2.5, output_per_mtok=10.0),
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.6),
}


class LLMSettings(BaseModel):
    """Which model each role uses and where it is served."""

    model: str = Field(default="gpt-4.1-mini", description="Model of every role without its own entry.")
    role_models: dict[str, str] = Field(
        default_factory=lambda: {"planner": "gpt-4.1", "reviewer": "gpt-4.1"},
        description="Role -> model: a stronger model for planning and review, the default for routine steps.",
    )
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama); unset means OpenAI."
    )
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key.")
    temperature: float = Field(default=0.0, ge=0.0)
    timeout_s: float = Field(default=120.0, gt=0)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES), description="Model -> price.")
    max_plan_attempts: int = Field(default=3, gt=0, description="Planner outputs tried before the run fails.")
    max_review_rounds: int = Field(default=2, ge=0, description="Times the reviewer may send a step back.")
    max_agent_turns: int = Field(default=8, gt=0, description="Model turns of one role per visit.")
    max_attempts: int = Field(
        default=5, gt=0, description="Attempts of one model call on a rate limit (429), server error (5xx) or time-out."
    )
    retry_wait_s: float = Field(
        default=2.0, ge=0, description="Wait before the first retry; it doubles (with jitter) for each further one."
    )
    retry_wait_max_s: float = Field(default=60.0, ge=0, description="Longest wait between two attempts.")

    def model_for(self, role: str) -> str:
        return self.role_models.get(role, self.model)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6


class MissingAPIKeyError(UserInputError):
    """No API key for the model; names the variable to set."""


class ModelClient(Protocol):
    """One model turn: the conversation so far and the tools on offer in, the model's message out."""

    def model_name(self, role: str) -> str: ...

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage: ...


ERROR_CHARS = 300
"""A server's error can quote the whole request; the start says what went wrong."""
RETRIES = "retries"
"""Key in a reply's ``response_metadata``: failed attempts before it, which the budget counts as spent."""


def is_transient(exc: BaseException) -> bool:
    """A rate limit, a server error or a time-out: the same request may well succeed a little later."""
    import httpx2  # noqa: PLC0415 - openai's HTTP client: a read time-out while streaming arrives unwrapped
    import openai  # noqa: PLC0415 - loaded with langchain-openai

    transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, httpx2.TimeoutException)
    return isinstance(exc, transient)


class ModelAccessError(Exception):
    """The model endpoint could not be reached or refused the request; the message names the setting to check."""


class EmptyStreamError(Exception):
    """The endpoint answered a streamed request with a stream that ended before its first chunk."""


NO_CHUNKS = "No generation chunks were returned"
"""langchain-core's ValueError for such a stream (an OpenAI-compatible server that failed after its HTTP 200)."""


class OpenAIClient:
    """``ChatOpenAI`` per role; no client is created before the first call."""

    def __init__(self, settings: LLMSettings, api_key: SecretStr) -> None:
        self.settings = settings
        self._api_key = api_key
        self._models: dict[str, Any] = {}

    def model_name(self, role: str) -> str:
        return self.settings.model_for(role)

    def _chat_model(self, role: str) -> Any:
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 - the deterministic commands never load it

        name = self.model_name(role)
        if name not in self._models:
            self._models[name] = ChatOpenAI(
                model=name,
                base_url=self.settings.base_url,
                api_key=self._api_key,
                temperature=self.settings.temperature,
                timeout=self.settings.timeout_s,
                max_retries=0,  # retried in complete(), where every attempt is counted
                stream_usage=True,
            )
        return self._models[name]

    def complete(
        self,
        *,
        role: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[ToolSchema],
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        import httpx2  # noqa: PLC0415 - loaded with langchain-openai
        import openai  # noqa: PLC0415

        retrying = self._retrying()
        try:
            reply = retrying(self._complete, role, messages, tools, on_token)
        except (openai.APIError, httpx2.TimeoutException, EmptyStreamError) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            msg = (
                f"the model endpoint {self.settings.base_url or 'of the OpenAI API'} failed for the {role} "
                f"({type(exc).__name__}: {str(exc)[:ERROR_CHARS]}; {attempts} attempt(s)); check "
                "MADAGENTS_LLM__BASE_URL, the model name and the key"
            )
            raise ModelAccessError(msg) from None
        retries = retrying.statistics.get("attempt_number", 1) - 1
        if retries:
            reply.response_metadata[RETRIES] = retries
        return reply

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait_exponential_jitter(
                multiplier=self.settings.retry_wait_s,
                jitter=self.settings.retry_wait_s,
                max=self.settings.retry_wait_max_s,
            ),
            reraise=True,
        )

    def _complete(
        self, role: str, messages: Sequence[BaseMessage], tools: Sequence[ToolSchema], on_token: TokenCallback | None
    ) -> AIMessage:
        model = self._chat_model(role)
        runnable = model.bind_tools(list(tools)) if tools else model
        if on_token is None:
            reply = runnable.invoke(list(messages))
            return reply if isinstance(reply, AIMessage) else AIMessage(content=str(reply.content))
        merged: AIMessageChunk | None = None
        try:
            for chunk in runnable.stream(list(messages)):
                if chunk.text:
                    on_token(chunk.text)
                merged = chunk if merged is None else merged + chunk
        except ValueError as exc:
            if merged is not None or str(exc) != NO_CHUNKS:
                raise
        if merged is None:
            msg = "the answer's stream ended before its first chunk (the server failed after accepting the request)"
            raise EmptyStreamError(msg)
        return AIMessage(
            content=merged.content,
            tool_calls=merged.tool_calls,
            invalid_tool_calls=merged.invalid_tool_calls,
            usage_metadata=merged.usage_metadata,
            response_metadata=merged.response_metadata,
        )


def make_client(settings: LLMSettings, environ: dict[str, str] | None = None) -> OpenAIClient:
    """The OpenAI-compatible client; raises :class:`MissingAPIKeyError` when no key is set for OpenAI itself."""
    environ = dict(os.environ) if environ is None else environ
    key = environ.get(settings.api_key_env, "")
    if not key and settings.base_url is None:
        msg = (
            f"no API key: set {settings.api_key_env} (or MADAGENTS_LLM__API_KEY_ENV to name another variable), or "
            "point MADAGENTS_LLM__BASE_URL at an OpenAI-compatible server; `madagents run WORKFLOW` needs no model"
        )
        raise MissingAPIKeyError(msg)
    # local servers (llama.cpp, vLLM, Ollama) accept any key, but the client insists on one
    return OpenAIClient(settings, SecretStr(key or "not-needed"))
