"""Budgets of a run (tokens, dollars, wall time, tool rounds) and what has been spent against them."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["Budget", "BudgetExceededError", "ModelTurn", "Price", "Spend"]


class Price(BaseModel):
    """US dollars per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class Budget(BaseModel):
    """Limits of one run; reaching one ends the run with status ``failed`` and the checkpoint kept."""

    tokens: int = Field(default=400_000, gt=0, description="Input plus output tokens of every model turn.")
    dollars: float = Field(default=2.0, gt=0, description="Cost of every model turn, from the price table.")
    wall_s: float = Field(default=4 * 3600.0, gt=0, description="Seconds spent in the graph's nodes.")
    tool_rounds: int = Field(default=40, gt=0, description="Tool calls the agents make.")


class ModelTurn(BaseModel):
    """One model call: who made it, on which model, and what it cost."""

    role: str
    model: str
    input_tokens: int
    output_tokens: int
    dollars: float
    failed: bool = Field(
        default=False,
        description="An attempt the endpoint failed (rate limit, server error, time-out) before a retry; counted "
        "with the request's input tokens, which the endpoint may have billed.",
    )


class BudgetExceededError(Exception):
    """A budget is used up; the message names it, the amount spent, and the setting that raises it."""

    def __init__(self, message: str, spend: Spend | None = None) -> None:
        super().__init__(message)
        self.spend = spend
        """What was spent up to the check, so the report still shows it."""


class Spend(BaseModel):
    """What a run has used so far."""

    turns: list[ModelTurn] = Field(default_factory=list)
    tool_rounds: int = 0
    seconds: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        """Spends of different nodes (or parallel steps) add up."""
        return Spend(
            turns=[*self.turns, *other.turns],
            tool_rounds=self.tool_rounds + other.tool_rounds,
            seconds=self.seconds + other.seconds,
        )

    def since(self, earlier: Spend) -> Spend:
        """What was spent after ``earlier``, a spend this one grew from."""
        return Spend(
            turns=self.turns[len(earlier.turns) :],
            tool_rounds=self.tool_rounds - earlier.tool_rounds,
            seconds=self.seconds - earlier.seconds,
        )

    @property
    def tokens(self) -> int:
        return sum(turn.input_tokens + turn.output_tokens for turn in self.turns)

    @property
    def dollars(self) -> float:
        return sum(turn.dollars for turn in self.turns)

    def by_role(self) -> dict[str, tuple[int, float]]:
        """Role -> (tokens, dollars), for the report."""
        table: dict[str, tuple[int, float]] = {}
        for turn in self.turns:
            tokens, dollars = table.get(turn.role, (0, 0.0))
            table[turn.role] = (tokens + turn.input_tokens + turn.output_tokens, dollars + turn.dollars)
        return table

    def check(self, budget: Budget) -> None:
        """Raise :class:`BudgetExceededError` if any limit is reached."""
        over = [
            (self.tokens >= budget.tokens, f"token budget used up ({self.tokens} of {budget.tokens})", "TOKENS"),
            (
                self.dollars >= budget.dollars,
                f"dollar budget used up (${self.dollars:.4f} of ${budget.dollars:g})",
                "DOLLARS",
            ),
            (
                self.seconds >= budget.wall_s,
                f"wall-time budget used up ({self.seconds:.0f} of {budget.wall_s:g} s)",
                "WALL_S",
            ),
            (
                self.tool_rounds >= budget.tool_rounds,
                f"tool-round budget used up ({self.tool_rounds} of {budget.tool_rounds})",
                "TOOL_ROUNDS",
            ),
        ]
        for exceeded, what, variable in over:
            if exceeded:
                msg = f"{what}; raise it with MADAGENTS_BUDGET__{variable} and resume the run"
                raise BudgetExceededError(msg, self)
