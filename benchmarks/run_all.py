"""Run every benchmark script in turn; each rewrites its own section of BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_integrations.py", "bench_embedder.py", "bench_reranker.py"]


def main() -> None:
    failed = []
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            print(f"skipping {name}: not present")
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
