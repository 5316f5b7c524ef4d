"""Build every distribution of this repository (sdist and wheel) into ``dist/``.

    python dists/build.py            # exist-mqtt-bridge and mock-exist, sdist + wheel each
    python dists/build.py --check    # then `twine check --strict` on what was built

Each folder beside this script is one distribution: a pyproject.toml, its PyPI README and
symlinks to the repository's packages and VERSION. ``python -m build`` makes the sdist (real files,
no symlinks) and then the wheel from that sdist, so a wheel is only what its sdist can rebuild.
Needs the ``build`` and (for --check) ``twine`` packages, which the ``dev`` extra installs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DISTRIBUTIONS = ("exist-mqtt-bridge", "mock-exist")


def version() -> str:
    """The one version of both distributions (and the add-on): the repository's VERSION file."""
    return (ROOT / "VERSION").read_text(encoding="utf-8").strip()


def artifacts(outdir: Path, name: str) -> list[Path]:
    """The sdist and wheel of ``name`` at this version in ``outdir`` (whichever exist)."""
    stem = f"{name.replace('-', '_')}-{version()}"
    return sorted(p for p in outdir.glob(f"{stem}*") if p.suffix in (".whl", ".gz"))


def build(name: str, outdir: Path) -> list[Path]:
    """Build one distribution's sdist and wheel into ``outdir``; returns the two files."""
    for old in artifacts(outdir, name):
        old.unlink()
    project = HERE / name
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(project)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"build: building {name} failed (its output is above)")
    # setuptools leaves its metadata folder beside the pyproject; nothing else uses it
    for leftover in project.glob("*.egg-info"):
        shutil.rmtree(leftover)
    built = artifacts(outdir, name)
    if len(built) != 2:
        raise SystemExit(f"build: expected an sdist and a wheel of {name}, found {built}")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python dists/build.py",
        description="Build the sdist and wheel of every distribution of this repository "
        f"({', '.join(DISTRIBUTIONS)}) at the version in VERSION.",
    )
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument(
        "--check", action="store_true", help="run `twine check --strict` on the built files"
    )
    parser.add_argument(
        "--only", choices=DISTRIBUTIONS, action="append", help="build only this one (repeatable)"
    )
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    for name in args.only or DISTRIBUTIONS:
        built += build(name, args.outdir)
    for path in built:
        print(f"{path.stat().st_size:>9,} bytes  {path}")
    if args.check:
        subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, built)], check=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
