"""Progress of a sweep: a tqdm bar of finished trials with the running, failed and retried counts and the time left."""

from __future__ import annotations

import sys

from tqdm import tqdm


class SweepProgress:
    """A bar over the trials to run; its postfix counts running, failed and retried trials (tqdm estimates the rest)."""

    def __init__(self, total: int, skipped: int = 0, enabled: bool = True) -> None:
        self.running = self.failed = self.retried = 0
        self.skipped = skipped
        self.bar = tqdm(total=total, desc="sweep", unit="trial", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"running {self.running}, failed {self.failed}, retried {self.retried}, "
                                 f"skipped {self.skipped} (done before)", refresh=True)

    def set_running(self, running: int) -> None:
        if running != self.running:
            self.running = running
            self._show()

    def finished(self, failed: bool = False) -> None:
        self.failed += int(failed)
        self.bar.update()
        self._show()

    def retrying(self, message: str) -> None:
        self.retried += 1
        self.write(message)
        self._show()

    def write(self, message: str) -> None:
        """A line above the bar (silent when the bar is disabled: the rows record everything)."""
        if not self.bar.disable:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
