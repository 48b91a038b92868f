"""A background training thread for the live lesson: one demo run at a time, restartable.

``start(overrides, meta)`` stops the run in progress (it writes its ``end`` record) and
trains the scenario again with the new recipe, appending a new run to the same file.
The viewer follows the newest run of the file, so the student sees the restart the way
``gradtop watch`` would: through the real Logger, the real file and the real reader.
"""

from __future__ import annotations

import os
import threading
import traceback
from typing import Any

import torch

from gradtop.demos.scenarios import SCENARIOS, Result, run_scenario
from gradtop.logger import Logger  # noqa: F401  (loaded now, not by the first run's thread)

# Intra-op threads for the demo nets: tiny layers gain nothing from more, and on a
# 2-core laptop the dashboard needs the other core.
TRAIN_THREADS = 1


class DemoRunner:
    """Trains ``scenario`` into ``path`` in a daemon thread; ``start`` again to restart."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        scenario: str,
        *,
        steps: int | None = None,
        step_delay: float = 0.0,
        seed: int = 0,
        threads: int | None = TRAIN_THREADS,
    ) -> None:
        if scenario not in SCENARIOS:
            raise KeyError(f"unknown scenario {scenario!r}")
        self.path = os.fspath(path)
        self.scenario = scenario
        self.steps = steps
        self.step_delay = step_delay
        self.seed = seed
        self.error = ""  # the last training failure, for the UI to show
        self.results: list[Result] = []
        self.starts = 0
        if threads is not None:
            torch.set_num_threads(threads)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, overrides: dict[str, Any], meta: dict[str, Any]) -> None:
        """Stop the current run (if any) and train again with ``overrides``; returns at once."""
        with self._lock:
            self._stop.set()
            previous, stop = self._thread, threading.Event()
            self._stop = stop
            self.starts += 1
            thread = threading.Thread(
                target=self._train,
                args=(previous, stop, dict(overrides), meta),
                name=f"gradtop-demo-{self.starts}",
                daemon=True,
            )
            self._thread = thread
            thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop training and wait for the run's end record; False if it did not stop in time."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _train(
        self,
        previous: threading.Thread | None,
        stop: threading.Event,
        overrides: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        if previous is not None:
            previous.join()  # one run at a time: the old run's end record comes first
        if stop.is_set():  # replaced by a newer start before it began
            return
        try:
            result = run_scenario(
                self.scenario,
                self.steps,
                self.path,
                seed=self.seed,
                step_delay=self.step_delay,
                stop=stop,
                meta=meta,
                **overrides,
            )
            self.results.append(result)
            self.error = ""
        except Exception as exc:  # shown in the lesson panel; the app must not die with it
            self.error = traceback.format_exception_only(type(exc), exc)[-1].strip()
