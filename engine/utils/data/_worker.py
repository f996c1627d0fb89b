"""Worker processes for ``DataLoader(num_workers>0)``.

Each worker owns one duplex pipe. The main process sends ``(epoch, batch_number, indices)``
round-robin and each worker answers its tasks in order, so reading batch ``k`` from worker
``k % num_workers`` returns batches in order with no reordering buffer. Workers inherit the dataset
by ``fork`` (on Linux); batches travel as NumPy arrays, never as engine tensors (which refuse to be
pickled), and an exception travels as its type's import path plus the formatted traceback text.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass

from ... import backend
from ...random import manual_seed
from ...tensor import Tensor

_STATUS_CHECK_INTERVAL = 1.0  # seconds between liveness checks while waiting


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    r"""Information about the current DataLoader worker (``id``, ``num_workers``, ``seed``,
    ``dataset``), or ``None`` in the main process."""
    return _worker_info


# ---------------------------------------------------------------------------- batches on the wire
class _WireArray:
    """A tensor crossing the process boundary: its NumPy array and ``requires_grad``."""

    def __init__(self, array, requires_grad):
        self.array, self.requires_grad = array, requires_grad


def _to_wire(obj):
    if isinstance(obj, Tensor):
        return _WireArray(backend.to_numpy(obj._data), obj.requires_grad)
    return _map_containers(obj, _to_wire)


def _from_wire(obj):
    if isinstance(obj, _WireArray):
        t = Tensor._make(obj.array)
        return t.requires_grad_(True) if obj.requires_grad else t
    return _map_containers(obj, _from_wire)


def _map_containers(obj, fn):
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(fn(v) for v in obj))
    if type(obj) in (list, tuple):
        return type(obj)(fn(v) for v in obj)
    if isinstance(obj, dict):
        out = {k: fn(v) for k, v in obj.items()}
        try:
            return out if type(obj) is dict else type(obj)(out)
        except TypeError:
            return out
    return obj


class _WorkerError:
    """An exception raised in a worker: its type (as an import path) and traceback text."""

    def __init__(self, worker_id: int, exc: BaseException):
        self.module, self.qualname = type(exc).__module__, type(exc).__qualname__
        self.where = f"in DataLoader worker process {worker_id}"
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def reraise(self):
        exc_type = _resolve(self.module, self.qualname)
        msg = f"Caught {self.qualname} {self.where}.\nOriginal {self.text}"
        if exc_type is None:
            raise RuntimeError(msg)
        if exc_type is KeyError:  # KeyError would repr() the message and mangle the traceback
            exc_type = RuntimeError
        try:
            exc = exc_type(msg)
        except Exception:  # noqa: BLE001 - a constructor that does not take one message
            raise RuntimeError(msg) from None
        raise exc


def _resolve(module: str, qualname: str):
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None


# --------------------------------------------------------------------------------- worker side
def _worker_loop(conn, fetch, dataset, seed, worker_id, num_workers, init_fn, parent_pid):
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    manual_seed(seed)
    random.seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception as e:  # noqa: BLE001 - any error is reported to the main process
            init_error = _WorkerError(worker_id, e)
    try:
        while True:
            if not conn.poll(_STATUS_CHECK_INTERVAL):
                if os.getppid() != parent_pid:  # the main process is gone
                    return
                continue
            task = conn.recv()
            if task is None:
                return
            epoch, number, indices = task
            if init_error is not None:
                out = init_error
            else:
                try:
                    out = _to_wire(fetch(indices))
                except Exception as e:  # noqa: BLE001 - any error is reported to the main process
                    out = _WorkerError(worker_id, e)
            try:
                conn.send((epoch, number, out))
            except (TypeError, AttributeError, ValueError) as e:  # the batch cannot be sent
                e = TypeError(
                    f"the batch ({type(out).__name__}) cannot be sent from the worker "
                    f"to the main process: {e}. Return tensors, arrays, numbers and "
                    "lists/tuples/dicts of them from the dataset and collate_fn."
                )
                conn.send((epoch, number, _WorkerError(worker_id, e)))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the main process closed the pipe: stop quietly
    finally:
        conn.close()


# ---------------------------------------------------------------------------------- main side
def _context(spec):
    if spec is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


class MultiProcessIter:
    """Iterates a DataLoader's batches computed by ``num_workers`` worker processes, in order."""

    def __init__(self, loader, fetch, base_seed: int):
        self._n = loader.num_workers
        self._timeout = loader.timeout
        self._prefetch = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        self._epoch = -1
        ctx = _context(loader.multiprocessing_context)
        self._conns, self._procs = [], []
        for wid in range(self._n):
            parent, child = ctx.Pipe(duplex=True)
            p = ctx.Process(
                target=_worker_loop,
                daemon=True,
                args=(
                    child,
                    fetch,
                    loader.dataset,
                    base_seed + wid,
                    wid,
                    self._n,
                    loader.worker_init_fn,
                    os.getpid(),
                ),
            )
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
        self._reset(loader)

    def _reset(self, loader):
        """Start a new epoch (also on persistent workers); results of an old epoch are dropped."""
        self._epoch += 1
        self._sampler = loader._index_sampler
        self._tasks = iter(self._sampler)
        self._sent = self._received = 0
        self._exhausted = False
        for _ in range(self._prefetch * self._n):
            self._send_next()

    def _send_next(self):
        if self._exhausted:
            return
        try:
            indices = next(self._tasks)
        except StopIteration:
            self._exhausted = True
            return
        self._conns[self._sent % self._n].send((self._epoch, self._sent, indices))
        self._sent += 1

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._sampler)

    def __next__(self):
        if self._conns is None or self._received == self._sent:
            if not self._persistent:
                self._shutdown()
            raise StopIteration
        out = self._receive(self._received % self._n)
        self._received += 1
        self._send_next()
        if isinstance(out, _WorkerError):
            self._shutdown(force=True)
            out.reraise()
        return _from_wire(out)

    def _receive(self, wid):
        conn, proc = self._conns[wid], self._procs[wid]
        start = time.monotonic()
        while True:
            wait = _STATUS_CHECK_INTERVAL
            if self._timeout > 0:
                left = self._timeout - (time.monotonic() - start)
                if left <= 0:
                    self._shutdown(force=True)
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
                wait = min(wait, left)
            try:
                if conn.poll(wait):
                    epoch, _number, out = conn.recv()
                    if epoch == self._epoch:
                        return out
                    continue  # a leftover of an epoch that was not read to the end
            except (EOFError, ConnectionResetError):
                proc.join(2.0)  # the worker closed its end: it is exiting
            if not proc.is_alive():
                code = proc.exitcode
                self._shutdown(force=True)
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {proc.pid}) exited unexpectedly "
                    f"with exit code {code}"
                )

    def _shutdown(self, force=False):
        """Stop the workers. ``force`` (errors, an abandoned iterator): a worker still busy with
        a batch nobody will read is terminated after a short grace period."""
        if self._conns is None:
            return
        conns, procs, self._conns, self._procs = self._conns, self._procs, None, None
        for c in conns:
            try:
                c.send(None)
            except (OSError, ValueError):
                pass
            c.close()  # a worker blocked sending a result gets a broken pipe and exits
        deadline = time.monotonic() + (0.2 if force else 2.0)
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(1.0)

    def __del__(self):
        self._shutdown(force=True)
