"""unsing: a live karaoke vocal remover.

The distribution's top-level folders ``realtime/``, ``export/``, ``models/`` and
``benchmarks/`` are installed as ``unsing.realtime``, ``unsing.export``, ``unsing.models`` and
``unsing.benchmarks`` (see ``[tool.setuptools.package-dir]`` in pyproject.toml).
"""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root of a source checkout (holds ``config.yaml``), or None when installed
#: from a wheel.
PROJECT_ROOT: Path | None = Path(__file__).resolve().parent.parent
if not (PROJECT_ROOT / "config.yaml").is_file() or not (PROJECT_ROOT / "realtime").is_dir():
    PROJECT_ROOT = None
else:
    # Running from a source checkout without the editable finder (``python -m pytest`` from the
    # root puts ``unsing/`` first on the path): map the top-level subpackages explicitly.
    __path__.append(str(PROJECT_ROOT))
