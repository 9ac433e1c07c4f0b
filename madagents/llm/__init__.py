"""Model access: the OpenAI-compatible client, budgets, redaction, and record/replay cassettes."""

from madagents.llm.budget import Budget, BudgetExceededError, ModelTurn, Price, Spend
from madagents.llm.cassette import Cassette, RecordingClient, ReplayClient, ReplayMismatchError
from madagents.llm.client import LLMSettings, MissingAPIKeyError, ModelClient, OpenAIClient, make_client
from madagents.llm.redact import redact

__all__ = [
    "Budget",
    "BudgetExceededError",
    "Cassette",
    "LLMSettings",
    "MissingAPIKeyError",
    "ModelClient",
    "ModelTurn",
    "OpenAIClient",
    "Price",
    "RecordingClient",
    "ReplayClient",
    "ReplayMismatchError",
    "Spend",
    "make_client",
    "redact",
]
