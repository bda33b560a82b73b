#!/usr/bin/env bash
# Builds build/lambda.zip, the code package serverless.yml deploys to every function: the
# project's own packages (archiver, connectors, retention_schedules, as pyproject.toml lists
# them) with their distribution metadata, so that importlib.metadata finds the connectors' entry
# points, and the runtime dependencies of pyproject.toml as manylinux2014 wheels for CPython
# 3.11 on the chosen architecture, all with `pip install --target`.
#
# manylinux2014 (glibc 2.17) because the python3.11 Lambda runtime runs on Amazon Linux 2
# (glibc 2.26): a newer wheel would install here and fail to import there.
# Needs pip and PyPI; no Docker and no AWS credentials.
#
# Usage: scripts/build-lambda.sh [arm64|x86_64]   (default arm64, serverless.yml's default)
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-arm64}"
case "$arch" in
    arm64) platform=manylinux2014_aarch64 ;;
    x86_64) platform=manylinux2014_x86_64 ;;
    *) echo "build-lambda: unknown architecture '$arch' (use arm64 or x86_64)" >&2; exit 2 ;;
esac
python="${PYTHON:-python3}"
out=build/lambda
wheels=build/lambda-wheel
# setuptools builds in build/lib without emptying it first: a module deleted from the tree
# would otherwise still ship.
rm -rf "$out" build/lambda.zip "$wheels" build/lib build/bdist.*
mkdir -p "$out"

mapfile -t dependencies < <("$python" -c '
import tomllib
with open("pyproject.toml", "rb") as handle:
    print("\n".join(tomllib.load(handle)["project"]["dependencies"]))')

echo "build-lambda: ${#dependencies[@]} dependencies for CPython 3.11 on $platform"
# --no-warn-conflicts: pip would compare the target with the packages of the Python running it.
"$python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
    --target "$out" --platform "$platform" --implementation cp --python-version 3.11 \
    --only-binary=:all: "${dependencies[@]}"

rm -rf "${out:?}/bin"  # console scripts: nothing runs them in Lambda
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$wheels" .
"$python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile --no-deps \
    --target "$out" "$wheels"/*.whl
rm -rf "$wheels" build/lib build/bdist.*

rm -rf "${out:?}/bin"
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +

"$python" - "$out" build/lambda.zip <<'EOF'
"""Zip the folder's contents at the root of the archive, in a stable order."""
import os
import sys
import zipfile

source, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for folder, subfolders, files in os.walk(source):
        subfolders.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            archive.write(path, os.path.relpath(path, source))
EOF
echo "build-lambda: build/lambda.zip for $arch ($(du -h build/lambda.zip | cut -f1) zipped," \
     "$(du -sh "$out" | cut -f1) unzipped; Lambda allows 250 MB unzipped)"
