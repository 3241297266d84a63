"""Deploy ``prefect.yaml`` to a Prefect server: the process work pool, then every deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["POOL", "ROOT", "DeployError", "deploy_all", "prefect_cli"]

ROOT = Path(__file__).resolve().parent.parent
POOL = "switchboard-process"


class DeployError(RuntimeError):
    """A ``prefect`` command failed; the message carries its output."""


def prefect_cli(api_url: str, *args: str, timeout: float = 300.0) -> str:
    """Run ``prefect ARGS`` in the checkout against ``api_url``; its stdout, or ``DeployError``."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise DeployError(f"prefect {' '.join(args)} failed ({result.returncode}):\n{output}")
    return result.stdout


def deploy_all(api_url: str) -> None:
    """Create (or update) the work pool and run ``prefect --no-prompt deploy --all``."""
    prefect_cli(api_url, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    prefect_cli(api_url, "--no-prompt", "deploy", "--all")
