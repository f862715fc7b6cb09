"""Logging, progress and error handling shared by the CLI commands (the only logging setup)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

import typer
from rich.console import Console

from macefield_flows.exceptions import MacefieldError

console = Console(stderr=False)
err_console = Console(stderr=True)


def configure_logging(verbose: int) -> None:
    """Root logging for the CLI: WARNING by default, INFO with -v, DEBUG with -vv."""
    from rich.logging import RichHandler

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err_console)],
                        force=True)
    if verbose <= 1:
        for noisy in ("jobflow", "maggma", "jobflow_remote"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # third-party deprecation notices (monty's cd, e3nn's torch.load) are not the user's business
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
        warnings.filterwarnings("ignore", message=".*TorchScript type system.*")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into one red line and exit code 1."""
    try:
        yield
    except (MacefieldError, FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
