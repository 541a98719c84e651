"""Execute one notebook with papermill, keeping the kernel's own chatter out of the terminal.

ipykernel logs to its process's stderr, which a kernel started by jupyter_client inherits from us:
"Kernel is running over TCP without encryption" at every start, and "KeyboardInterrupt caught in
kernel" when jupyter_client interrupts it at shutdown. The kernel here talks over IPC sockets in a
private folder (which also removes the reason for the first warning), and its stdout and stderr go
to a log file beside the executed notebook. Cell outputs still reach the notebook through the kernel's
messages, so nothing of the run is lost.

nbclient shuts down only a kernel it created itself; one handed to it (as here) outlives the run, with
the step's models still in its memory. :func:`execute` therefore stops the kernel itself, also when a
cell fails.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync


class StepFailed(RuntimeError):
    """A notebook raised: names the notebook, model and cell, and where the traceback is."""

    def __init__(self, label: str, output: Path, cell: str, error: str):
        self.label, self.output, self.cell, self.error = label, output, cell, error
        super().__init__(f"{label} failed in {cell}: {error}\n  The executed notebook with the traceback: {output}")


class QuietKernelManager(AsyncKernelManager):
    """A local kernel over IPC whose process output goes to ``log_path``."""

    def __init__(self, log_path: Path, socket_dir: Path, **kwargs):
        super().__init__(transport="ipc", ip=str(socket_dir / "kernel"), **kwargs)
        self.log_path = log_path

    async def start_kernel(self, **kwargs):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            kwargs.setdefault("stdout", log)
            kwargs.setdefault("stderr", log)
            return await super().start_kernel(**kwargs)


def first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    text = lines[0].strip() if lines else source.strip()
    return text if len(text) <= 60 else text[:57] + "..."


def execute(notebook: Path, output: Path, parameters: dict, *, label: str, kernel_name: str = "python3") -> None:
    """Run ``notebook`` into ``output`` (written even when a cell fails); raise :class:`StepFailed`."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    socket_dir = Path(tempfile.mkdtemp(prefix="sit-kernel-"))
    km = QuietKernelManager(output.with_suffix(".kernel.log"), socket_dir, kernel_name=kernel_name)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel_name,
                                   cwd=str(notebook.parent), progress_bar=False, km=km)
    except PapermillExecutionError as exc:
        cell = f"cell [{exc.exec_count}] `{first_line(exc.source)}`"
        raise StepFailed(label, output, cell, f"{exc.ename}: {exc.evalue}") from None
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(socket_dir, ignore_errors=True)
