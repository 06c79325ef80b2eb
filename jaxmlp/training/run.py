"""One :func:`jaxmlp.fit` call at run time: its data and state placed on the devices, the loop over
compiled chunks (:func:`jaxmlp.training.loop.run_chunk`), the gradient check's report, early stopping and the
recovery of the last finite state after a divergence.

The loop is the one every ``fit`` runs, rows in memory or streamed from disk: where a chunk's
batches come from is a part, :meth:`FitRun.feed` (the rows in memory, the batches drawn inside the
compiled call) or :class:`jaxmlp.training.streamed.StreamRun`'s (the batches read on the host, the
next chunk's while this one computes); validation, patience, the monitor, the callback and the
recovery from a divergence are the loop's, the same on both."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxmlp import forward as _forward
from jaxmlp import programs
from jaxmlp.checks.gradient_check import report_from_errors
from jaxmlp.training import engine, parallel
from jaxmlp.training import monitor as _monitor
from jaxmlp.training.loop import StepSpec, first_bad, run_chunk, start_carry
from jaxmlp.training.result import FitResult

__all__ = ["FitRun", "compiled_loss"]


@dataclasses.dataclass
class FitRun:
    """One ``fit`` call's data and state, placed on its devices, and the chunk loop over them."""

    spec: StepSpec
    lr: np.ndarray
    x: Any
    y: Any
    x_val: Any
    y_val: Any
    start_step: int
    start: tuple  # (TrainState, cursor): the carry before the first step (the check's params)
    probe: tuple | None = None  # the monitor's (x, y)
    vectors: tuple | None = None  # the monitor's last eigenvectors (its warm starts)

    @classmethod
    def placed(
        cls, spec, lr, params, opt_state, x, y, x_val, y_val, key, start_step, probe=None
    ) -> FitRun:
        """The run with its data and state on ``spec.mesh`` (split or replicated) or one device;
        the monitor's ``probe`` (default: the training data) split over the mesh where it divides."""
        mesh, batch_size = spec.mesh, spec.batch_size
        state, cursor = start_carry(spec, params, opt_state, key, start_step, x.shape[0])
        own_probe = probe is not None
        if spec.monitor is not None and probe is None:
            probe = (x, y)
        if mesh is not None:
            parallel.check_divisible(
                batch_size or x.shape[0], mesh, "a batch" if batch_size else "a full batch"
            )
            if batch_size is None:
                x, y = parallel.shard_leading(mesh, x), parallel.shard_leading(mesh, y)
            else:
                x, y = parallel.replicate(mesh, (x, y))
            state, cursor, x_val, y_val = parallel.replicate(mesh, (state, cursor, x_val, y_val))
            if own_probe or batch_size is not None:
                probe = cls.spread(mesh, probe)
            elif probe is not None:
                probe = (x, y)  # already split
        vectors = cls.start_vectors(spec, params)
        return cls(spec, lr, x, y, x_val, y_val, start_step, (state, cursor), probe, vectors)

    @staticmethod
    def spread(mesh, probe):
        """The monitor's probe split over the mesh where its rows divide, else replicated."""
        if probe is None:
            return None
        divides = probe[0].shape[0] % parallel.axis_size(mesh) == 0
        return tuple(
            parallel.shard_leading(mesh, a) if divides else parallel.replicate(mesh, a)
            for a in probe
        )

    @staticmethod
    def start_vectors(spec, params):
        """The monitor's first eigenvectors (its Lanczos starts), on the mesh; None without one."""
        if spec.monitor is None:
            return None
        vector = _monitor.start_vector(params)
        if spec.mesh is None:
            return vector, vector
        return parallel.replicate(spec.mesh, (vector, vector))

    def feed(self, cursor, n: int, ahead: int):
        """``(cursor, x, y, after)``: what the compiled chunk of ``n`` steps from ``cursor`` reads,
        and the cursor after it (None: the chunk's own). In memory, all of the rows; a stream
        gives the chunk's batches and reads the next ``ahead`` steps' while they compute."""
        return cursor, self.x, self.y, None

    def read_ahead(self) -> None:
        """Called once a chunk is dispatched, before its results are fetched (a stream reads the
        next chunk's rows here, while the device computes)."""

    def chunk(self, start, n, history=True, check=False, check_now=True, first_step=None, ahead=0):
        """``((state, cursor), losses, params_finite, validation loss, check, records)`` after
        ``n`` steps from ``start`` (the check when ``check`` and ``check_now``; the monitor's
        records, or None, when ``first_step``, the global step of ``start``, is given: the
        monitor's eigenvectors move on; ``ahead``: the next chunk's steps, see :meth:`feed`)."""
        state = start[0]
        cursor, x, y, after = self.feed(start[1], n, ahead)
        key = state.key
        monitored = self.spec.monitor is not None and first_step is not None
        spec = self.spec if monitored else dataclasses.replace(self.spec, monitor=None)
        lead = (-first_step) % self.spec.monitor.every if monitored else 0
        c = run_chunk(
            state if self.spec.batch_size else state._replace(key=None),
            cursor,
            self.lr,
            x,
            y,
            self.x_val,
            self.y_val,
            spec=spec,
            n_steps=n,
            history=history,
            check=check,
            check_now=np.bool_(check_now) if check else None,
            vectors=self.vectors if monitored else None,
            probe=self.probe if monitored else None,
            lead=lead,
        )
        self.read_ahead()
        validating = self.x_val is not None
        losses, finite, *val = parallel.fetch(
            c.losses, c.params_finite, *((c.validation_loss,) if validating else ())
        )
        state = c.state._replace(key=key)
        records = None
        if c.watch is not None:
            self.vectors = (c.watch.vector, c.watch.gn_vector)
            if c.watch.records is not None:
                records = _monitor.Records(*parallel.to_host_tree(tuple(c.watch.records)))
        value = float(val[0]) if val else None
        here = (state, c.cursor if after is None else after)
        return here, losses, finite, value, c.check, records

    def gradient_report(self, checked):
        """The first batch's check: raises :class:`~jaxmlp.checks.gradient_check.GradientMismatchError` on a
        failed leaf, else returns a function that builds the :class:`GradCheckReport` (the
        report's objects cost more than the check itself on a tiny network, so they are made
        only when read)."""
        idx, errors = checked
        errors = np.asarray(errors)
        x, y, net, params = self.x, self.y, self.spec.net, self.start[0].params
        if not errors[2].all():  # the full check on the batch raises, naming the leaf
            batch = (x, y) if idx is None else (x[np.asarray(idx)], y[np.asarray(idx)])
            report_from_errors(net, errors, params, *batch)
        return lambda: report_from_errors(net, errors, params, x, y)  # passed: x, y unused

    def final(self, params):
        """The loss of ``params`` on the training rows, computed when first read."""
        net, x, y = self.spec.net, self.x, self.y
        return lambda: compiled_loss(net, params, x, y)

    def last_finite(self, chunk_start, previous, bad: int):
        """The carry one step before the first non-finite loss, ``bad`` steps into the chunk that
        began at ``chunk_start``: recomputed from there (or from the previous chunk's start when
        ``bad`` is 0), a rare path that compiles one more chunk length."""
        if bad > 0:
            origin, k = chunk_start, bad - 1
        elif previous is not None:
            origin, k = previous[0], previous[1] - 1
        else:
            origin, k = chunk_start, 0
        return origin if k == 0 else self.chunk(origin, k)[0]

    def loop(self, steps, chunk_size, history, callback, watch, restore_best, check) -> FitResult:
        """Chunks until ``steps`` are done, the loss is not finite, the callback or early
        stopping says stop (:func:`jaxmlp.training.engine.run_calls`, a chunk a call of one
        member, judged here); the :class:`FitResult`.

        With ``check``, the handwritten gradient is compared with ``jax.grad`` on the first batch
        inside the first chunk's call, and a mismatch raises before any result of it leaves
        ``fit``. Every chunk runs the same program (a separate call costs a dispatch, a separate
        program a compilation, more than the check inside the loop's program:
        ``experiments/bench_gradient_check.py`` times it); later chunks skip the check at run time.
        """
        here, previous, report = self.start, None, None
        recorded, done, diverged_at, stopped = [], 0, None, False
        watched: list[_monitor.Records] = []

        def call(wanted):  # one chunk, judged: (steps it counts, whether the run ends)
            nonlocal here, previous, report, done, diverged_at, stopped
            n = int(wanted[0])
            chunk_start = here
            checking = check and report is None
            ahead = min(chunk_size, steps - done - n)
            here, losses, params_finite, val_loss, checked, records = self.chunk(
                here, n, history, check, checking, self.start_step + done, ahead
            )
            if records is not None:
                watched.append(records)
            if checking:  # raises GradientMismatchError before any result leaves fit
                report = self.gradient_report(checked)
            bad = first_bad(losses, params_finite, n)
            if bad >= 0 and not history:  # locate the first non-finite loss
                _, losses, params_finite, *_ = self.chunk(chunk_start, n)
                bad = first_bad(losses, params_finite, n)
            if bad >= 0:
                diverged_at = self.start_step + done + bad
                recorded.append(losses[: bad + 1])
                here = self.last_finite(chunk_start, previous, bad)
                return [0], [True]
            recorded.append(losses)
            previous = (chunk_start, n)
            done += n
            state, step = here[0], self.start_step + done
            asked = callback is not None and callback(state, losses)
            if (val_loss is not None and watch.see(val_loss, step, here)) or asked:
                stopped = done < steps
                return [n], [True]
            return [n], [False]

        engine.run_calls(call, [steps], chunk_size)
        step = self.start_step + done if diverged_at is None else diverged_at - 1
        if restore_best and watch.best is not None:
            here, step = watch.best, watch.best_step
        state, validating = here[0], self.x_val is not None
        return FitResult(
            state.params,
            state.opt_state,
            np.concatenate(recorded) if history else None,
            step,
            self.start[0].key,
            diverged_at,
            stopped,
            check=report,
            validation_losses=np.asarray(watch.losses) if validating else None,
            validation_steps=np.asarray(watch.steps, np.int64) if validating else None,
            best_step=watch.best_step,
            final=self.final(state.params),
            chunk_end_losses=np.asarray([chunk[-1] for chunk in recorded]),
            monitor=_monitor.until(_monitor.concatenate(watched), diverged_at),
        )


compiled_loss = programs.jit(_forward.loss_fn, static_argnums=0)
