"""Kill a real subprocess with SIGKILL while it is writing, several times (for resume tests)."""

import os
import random
import signal
import subprocess
import time
from pathlib import Path


def kill_while_writing(command: list[str], watched: list[Path], rounds: int, max_delay: float,
                       rng: random.Random) -> int:
    """Start ``command`` ``rounds`` times; each time wait until one of ``watched`` (picked at random)
    grows, wait a random moment more, then SIGKILL it. Returns how many runs were really killed."""
    kills = 0
    for _ in range(rounds):
        proc = subprocess.Popen(command)
        target = rng.choice(watched)
        size = target.stat().st_size if target.exists() else 0
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:  # until this run has written something
            if target.exists() and target.stat().st_size > size:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_delay))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    return kills
