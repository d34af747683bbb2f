"""Long work in the UI without blocking it: a generator of steps run a little at a time between timer events
(`ChunkedRun`), and the modal operator shell around it (`ModalRun`): Blender's progress indicator
(window_manager.progress_begin/update/end), status text with the step, the elapsed and the estimated remaining
time, Esc or right-click to cancel. Transfer Camera Move and Export Camera Poses run on it; scripts and
background mode run the same generators to their end at once (core.parallax.run_steps)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from typing import Generic, TypeVar

from ..core.errors import ParaScaleError

T = TypeVar("T")


class ChunkedRun(Generic[T]):
    """Steps run for a time budget at a time: `steps` yields the 0-based number of each step it has finished
    and returns the result; `total` is how many steps there are (a run that learns it on the way sets it).
    `advance` returns the result once the generator has, else None; `cancel` closes the generator (its
    cleanup runs, frames restored; nothing after the last step it reached happens)."""

    def __init__(self, steps: Generator[int, None, T], total: int,
                 clock: Callable[[], float] = time.perf_counter):
        self.steps = steps
        self.total = total
        self.done = 0
        self.clock = clock
        self.started = clock()

    def advance(self, budget: float) -> T | None:
        """Run steps for about `budget` seconds (at least one). The result when the run has finished, else
        None. A ParaScaleError (bad input) propagates, with nothing changed."""
        deadline = self.clock() + budget
        while True:
            try:
                self.done = next(self.steps) + 1
            except StopIteration as stop:
                self.done = self.total
                return stop.value
            if self.clock() >= deadline:
                return None

    def cancel(self) -> None:
        self.steps.close()

    def position(self) -> tuple[str, int, int]:
        """(what the steps are, e.g. 'reading frame', the current one, how many) for the status text."""
        return "step", self.done, self.total

    def status(self) -> str:
        """'ParaScale: reading frame 12 of 250, 3 s, about 9 s left (Esc to cancel)'."""
        what, index, count = self.position()
        elapsed = self.clock() - self.started
        left = elapsed * (self.total - self.done) / self.done if self.done else math.nan
        remaining = f", about {left:.0f} s left" if math.isfinite(left) else ""
        return f"ParaScale: {what} {min(index, count)} of {count}, {elapsed:.0f} s{remaining} (Esc to cancel)"


def error_line(error: BaseException) -> str:
    """The one line an operator reports for an error (the first line of its message, else its type)."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


class ModalRun:
    """The modal shell of an operator that runs a ChunkedRun: `start_run` (from invoke, or from execute
    after the file browser) shows the progress indicator and adds the timer and the modal handler; `modal`
    advances the run for STEP_BUDGET seconds per timer event, passes other events through (the viewport
    stays responsive), cancels on Esc or right-click and reports bad input as one error line. The operator
    gives `finish_run` (what to do with the result) and CANCELLED_MESSAGE."""

    # Seconds of work per timer event: the viewport stays responsive between them.
    STEP_BUDGET = 0.05
    TIMER_INTERVAL = 0.01
    CANCELLED_MESSAGE = "ParaScale: cancelled; nothing was changed"
    # What a run may raise on bad input: reported as one line, the operator cancelled.
    ERRORS: tuple[type[BaseException], ...] = (ParaScaleError,)

    def finish_run(self, context: object, outcome: object) -> set[str]:
        raise NotImplementedError

    def start_run(self, context: object, run: ChunkedRun) -> set[str]:
        self._run = run
        self._progress_total = run.total
        wm = context.window_manager
        wm.progress_begin(0, run.total)
        self._timer = wm.event_timer_add(self.TIMER_INTERVAL, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: object, event: object) -> set[str]:
        if event.type in {"ESC", "RIGHTMOUSE"}:
            self._run.cancel()
            self._end_feedback(context)
            self.report({"WARNING"}, self.CANCELLED_MESSAGE)
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            outcome = self._run.advance(self.STEP_BUDGET)
        except self.ERRORS as error:
            self._end_feedback(context)
            self.report({"ERROR"}, error_line(error))
            return {"CANCELLED"}
        if outcome is None:
            wm = context.window_manager
            if self._run.total != self._progress_total:  # a later part's size is known now
                self._progress_total = self._run.total
                wm.progress_begin(0, self._run.total)
            wm.progress_update(self._run.done)
            context.workspace.status_text_set(self._run.status())
            return {"RUNNING_MODAL"}
        self._end_feedback(context)
        return self.finish_run(context, outcome)

    def _end_feedback(self, context: object) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
