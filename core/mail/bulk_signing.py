"""DKIM signing for the bulk sender, in this process or in a pool of processes.

An RSA-2048 signature costs about 1 ms of CPU (dkimpy, its arithmetic in GMP), so one
process signs several hundred mails a second besides sending them.  A sender that must
go faster than one core allows signs in ``signing_processes`` worker processes, which
take the key once when they start and then only the message bytes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from kith.core.mail.dkim_signing import DkimSigner

_signer: DkimSigner | None = None  # in a worker process: the key it was started with


def _start_worker(signer: DkimSigner) -> None:
    global _signer
    _signer = signer


def _signature_in_worker(raw: bytes) -> bytes:
    assert _signer is not None, "the pool's initializer sets the signer"
    return _signer.signature(raw)


class SigningPool:
    """Signs with ``signer`` (nothing to do when it is None): in this process with
    ``processes=0``, else in that many processes, started by ``start``."""

    def __init__(self, signer: DkimSigner | None, processes: int) -> None:
        self.signer = signer
        self.processes = processes if signer is not None else 0
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        if self.processes and self._pool is None and self.signer is not None:
            # spawn, not fork: this process has threads (database drivers) that fork would copy mid-work
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.signer,),  # pickled once per process
            )

    async def sign(self, raw: bytes) -> bytes:
        if self.signer is None:
            return raw
        if self._pool is None:
            return self.signer.sign(raw)
        signature = await asyncio.get_running_loop().run_in_executor(self._pool, _signature_in_worker, raw)
        return signature + raw

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)
