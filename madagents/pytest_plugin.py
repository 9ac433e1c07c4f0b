"""The pytest plugin (entry point ``pytest11``): regression specs ``regression_*.yaml`` collected as tests.

Each spec produces a run (a workflow, a cassette replay, or an existing run) and asserts that ``madagents compare``
finds it compatible with its golden; ``--madagents-update-golden`` writes the goldens instead. JUnit output comes
from pytest's own ``--junitxml``. See docs/ci.md.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from madagents.errors import RunFailedError, UserInputError

__all__ = ["RegressionItem", "RegressionSpecFile"]

SPEC_GLOBS = ("regression_*.yaml", "regression_*.yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("madagents", "madagents regression specs (regression_*.yaml)")
    group.addoption(
        "--madagents-update-golden",
        action="store_true",
        default=False,
        help="Run each regression spec and write its output as the new golden instead of comparing.",
    )
    group.addoption(
        "--madagents-sandbox",
        choices=["local", "docker", "dask"],
        default=None,
        help="Where the specs' workflows and replays run (default: MADAGENTS_SANDBOX, or docker when it answers).",
    )
    group.addoption(
        "--madagents-keep-runs",
        metavar="DIR",
        default=None,
        help="Keep each spec's run in DIR/NAME (default: pytest's temporary directory).",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in SPEC_GLOBS):
        collector: RegressionSpecFile = RegressionSpecFile.from_parent(parent, path=file_path)
        return collector
    return None


class RegressionSpecFile(pytest.File):
    """A ``regression_*.yaml`` file: one test per spec."""

    def collect(self) -> Iterator[pytest.Item]:
        from madagents.compare.regression import load_regressions  # noqa: PLC0415

        for spec in load_regressions(self.path):
            item: RegressionItem = RegressionItem.from_parent(self, name=spec.name, spec=spec)
            for marker in spec.markers:
                item.add_marker(marker)
            yield item


class RegressionFailure(Exception):
    """The run is incompatible with its golden; the message is the comparison table."""


class RegressionItem(pytest.Item):
    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        from madagents.compare.compare import compare_samples  # noqa: PLC0415
        from madagents.compare.readers import load_sample  # noqa: PLC0415
        from madagents.compare.readers.rundir import write_golden  # noqa: PLC0415
        from madagents.compare.regression import produce_run  # noqa: PLC0415

        config = self.config
        keep = config.getoption("--madagents-keep-runs")
        where = Path(keep) / self.spec.name if keep else self._tmp_dir()
        run = produce_run(self.spec, where, config.getoption("--madagents-sandbox"))
        if config.getoption("--madagents-update-golden"):
            write_golden(run, self.spec.golden)
            return
        if not self.spec.golden.is_dir():
            msg = f"no golden at {self.spec.golden}; write it with: pytest --madagents-update-golden {self.path}"
            raise UserInputError(msg)
        compared = compare_samples(
            load_sample(run), load_sample(self.spec.golden), tolerances=self.spec.tolerances, mode=self.spec.mode
        )
        self.user_properties.append(("comparison", compared.result.model_dump_json()))
        if not compared.result.compatible:
            raise RegressionFailure(_table_text(compared.result))

    def _tmp_dir(self) -> Path:
        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        return factory.mktemp(self.spec.name)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RegressionFailure | UserInputError | RunFailedError):
            return f"{self.spec.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"madagents regression: {self.spec.name}"


def _table_text(result: Any) -> str:
    from madagents.compare.render import result_text  # noqa: PLC0415

    return f"incompatible with the golden:\n{result_text(result)}"
