"""``ntop <stage> ...``: the command line the Snakemake rules call, usable by hand as well.

Each command is a handler with its arguments declared on it (``@command``); the parser is built from
that registry. Bad input ends in one line, ``ntop <stage>: error: <file>: field '<name>': <what>``,
exit status 2, and no partial output (every stage writes through ``ntop.io.atomic_path``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ntop.errors import NtopError, WriteError, quiet_failed_writes

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], None]
Argument = tuple[tuple[str, ...], dict[str, Any]]


def arg(*flags: str, **options: Any) -> Argument:
    """One ``add_argument`` call, declared beside the handler that reads it."""
    return flags, options


def params(help: str) -> Argument:  # noqa: A002 - argparse's word
    return arg("--params", default="{}", help=help)


OUT = arg("--out", required=True, type=Path)
BODY = arg("--body-model", required=True)
THREADS = arg("--threads", type=int, default=1)
QA_REPORT = (
    arg("--out-json", required=True, type=Path),
    arg("--strict", action="store_true", help="exit non-zero when a check fails"),
)


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    arguments: tuple[Argument, ...]
    qa: bool  # an ``ntop qa`` command


COMMANDS: list[Command] = []


def command(name: str, *arguments: Argument, qa: bool = False) -> Callable[[Handler], Handler]:
    """Register ``ntop <name>`` (``ntop qa <name>`` with ``qa``) and its arguments."""

    def register(handler: Handler) -> Handler:
        COMMANDS.append(Command(name, handler, arguments, qa))
        return handler

    return register


def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise NtopError(f"--params is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise NtopError("--params must be a JSON object")
    return value


def _body(path: str):  # noqa: ANN202 - imports torch lazily so `ntop --help` stays quick
    from ntop.body import BodyModel

    return BodyModel.from_file(path)


def _paired(a: argparse.Namespace, *names: str) -> list[tuple[Path, ...]]:
    """The repeated options ``names`` zipped into one tuple per item; they must come in equal numbers."""
    lists = [getattr(a, n) for n in names]
    if len({len(x) for x in lists}) != 1:
        raise NtopError(f"give --{' and --'.join(n.replace('_', '-') for n in names)} the same number of times")
    return list(zip(*lists))


def _qa_verdict(report: dict[str, Any], a: argparse.Namespace, what: str, figures: Any) -> None:
    """Print the figures (the log keeps them even if --strict fails the job), then fail if asked to."""
    print(json.dumps(figures, indent=1))
    if not report["passed"] and a.strict:
        raise NtopError(f"{what} checks failed (see the report)", a.out_json)


# ----------------------------------------------------------------------------------------------
# ingest
# ----------------------------------------------------------------------------------------------


@command(
    "body-model",
    arg("--kind", choices=["anny", "procedural"], default="anny"),
    arg("--components", type=int, default=10, help="Anny: shape components (SMPL consumers expect 10)"),
    OUT,
)
def _cmd_body_model(a: argparse.Namespace) -> None:
    """Write a free body model in SMPL's format (.npz): Anny converted, or ntop's small procedural body."""
    import numpy as np

    from ntop.io import atomic_path

    if a.kind == "anny":
        from ntop.body import anny

        print("converting Anny (its first build takes about a minute and fills $ANNY_CACHE_DIR or ~/.cache/anny)", flush=True)
        arrays = anny.build(components=a.components)
        print(
            f"{a.components} shape components hold {100 * arrays['anny_explained_variance'][-1]:.3f} % of the adult variation",
            flush=True,
        )
    else:
        from ntop.body import procedural

        arrays = procedural.build()
    with atomic_path(a.out) as tmp:
        np.savez_compressed(tmp, **arrays)


@command("fetch-trial", arg("--trial", default="Demo_SinglePerson", help="a trial folder of Pose2Sim's wheel"), OUT)
def _cmd_fetch_trial(a: argparse.Namespace) -> None:
    """Copy one of Pose2Sim's demo trials (installed by .ci/install, BSD-3-Clause) into a rig folder."""
    from ntop.datasets.pose2sim import copy_trial

    print(json.dumps({"files": copy_trial(a.trial, a.out)}))


@command(
    "synthesize",
    BODY,
    arg("--subject", required=True),
    arg("--action", required=True),
    params("synthetic capture settings as JSON"),
    OUT,
)
def _cmd_synthesize(a: argparse.Namespace) -> None:
    """Render a synthetic multi-view capture with complete ground truth."""
    from ntop.datasets.synthetic.capture import SyntheticConfig, generate

    cfg = SyntheticConfig.from_dict(_params(a.params), where="synthetic")
    if cfg.phenotype is not None:
        import dataclasses

        import numpy as np

        from ntop.body.anny import Phenotype, phenotype_betas

        betas = phenotype_betas([Phenotype.from_dict(cfg.phenotype, "synthetic.phenotype")], dict(np.load(a.body_model)))[0]
        cfg = dataclasses.replace(cfg, betas=betas[:10].tolist())
    generate(_body(a.body_model), a.subject, a.action, cfg, a.out, body_path=a.body_model)


@command(
    "ingest",
    arg("--source", required=True),
    arg("--raw", required=True, type=Path),
    arg("--subject", required=True),
    arg("--action", required=True),
    params("start, stop, stride, image_format, scale, time_offsets and the subject's adapter settings (adapter) as JSON"),
    arg("--body-model", type=Path, help="SMPL-format model: adapters that convert a dataset's bodies need it"),
    arg("--capture", required=True, type=Path),
    arg("--frames", required=True, type=Path),
)
def _cmd_ingest(a: argparse.Namespace) -> None:
    """Convert a capture into the canonical capture.h5 + frames.h5."""
    from ntop.datasets.canonical import AdapterContext
    from ntop.datasets.ingest import ingest

    p = _params(a.params)
    context = AdapterContext(p.get("adapter") or {}, _body(a.body_model) if a.body_model else None)
    window = {k: p[k] for k in ("start", "stop", "stride", "image_format", "scale", "time_offsets") if k in p}
    print(json.dumps(ingest(a.source, a.raw, a.subject, a.action, a.capture, a.frames, context=context, **window)))


# ----------------------------------------------------------------------------------------------
# keypoints, calibration, fit
# ----------------------------------------------------------------------------------------------


@command(
    "detect-keypoints",
    arg("--capture", required=True, type=Path),
    arg("--frames", type=Path, help="frames.h5 (the onnx backend reads images)"),
    arg("--masks", type=Path, help="masks.h5 or a capture with ground-truth masks (person boxes for onnx)"),
    params("detector settings as JSON (see ntop.keypoints.detect.DetectConfig)"),
    OUT,
)
def _cmd_detect_keypoints(a: argparse.Namespace) -> None:
    """2D keypoints per camera and frame (backend from --params: provided or onnx)."""
    from ntop.keypoints.detect import DetectConfig, detect_keypoints

    print(
        json.dumps(detect_keypoints(a.capture, a.out, DetectConfig.from_dict(_params(a.params)), frames=a.frames, masks=a.masks))
    )


@command(
    "triangulate",
    arg("--keypoints2d", required=True, type=Path),
    arg("--cameras", type=Path, help="calibration.h5 whose cameras replace the capture's"),
    params("triangulation settings as JSON (see ntop.keypoints.triangulate.TriangulateConfig)"),
    OUT,
)
def _cmd_triangulate(a: argparse.Namespace) -> None:
    """Robust multi-view triangulation of the 2D keypoints (cameras from --cameras when calibrated)."""
    from ntop.keypoints.triangulate import TriangulateConfig, triangulate

    print(json.dumps(triangulate(a.keypoints2d, a.out, TriangulateConfig.from_dict(_params(a.params)), cameras=a.cameras)))


@command(
    "calibrate",
    arg("--keypoints2d", required=True, type=Path, action="append", help="keypoints2d.h5 of an action (repeat)"),
    BODY,
    params("calibration settings as JSON (see ntop.keypoints.calibrate.CalibrateConfig)"),
    OUT,
)
def _cmd_calibrate(a: argparse.Namespace) -> None:
    """Camera extrinsics from the 2D keypoints of one or more actions of the same rig."""
    from ntop.keypoints.calibrate import CalibrateConfig, calibrate

    print(
        json.dumps(calibrate(a.keypoints2d, _body(a.body_model), a.out, CalibrateConfig.from_dict(_params(a.params))), indent=1)
    )


@command(
    "fit-smpl",
    arg("--subject", default=""),
    arg("--action", required=True, action="append", help="an action of the subject (repeat, same order as the keypoint files)"),
    arg("--keypoints3d", type=Path, action="append", help="keypoints3d.h5 per action (multiview)"),
    arg("--keypoints2d", type=Path, action="append", help="keypoints2d.h5 per action (monocular, or 2D terms)"),
    BODY,
    params("mode (multiview|monocular), camera, and ntop.fit.core.FitConfig fields as JSON"),
    OUT,
    arg("--init", type=Path, help="refine this smpl.h5 (a first fit) against the masks"),
    arg("--masks", type=Path, action="append", help="masks.h5 per action, with --init (same order as the actions)"),
    arg("--easymocap", type=Path, help="also write EasyMocap-style per-frame JSON files here"),
    THREADS,
)
def _cmd_fit_smpl(a: argparse.Namespace) -> None:
    """Fit a subject's SMPL bodies (one shape, every action) to its keypoints: multi-view or monocular."""
    import torch

    from ntop.fit.core import FitConfig
    from ntop.fit.stage import fit_smpl, write_easymocap

    torch.set_num_threads(a.threads)
    p = _params(a.params)
    mode, camera = p.pop("mode", "multiview"), p.pop("camera", None)
    body = _body(a.body_model)
    k2, k3 = a.keypoints2d or [], a.keypoints3d or []
    cfg = FitConfig.from_dict(p)
    summary = fit_smpl(
        body,
        a.action,
        a.out,
        cfg,
        mode=mode,
        keypoints3d=k3,
        keypoints2d=k2,
        camera=camera,
        subject=a.subject,
        init=a.init,
        masks=a.masks or [],
    )
    if a.easymocap:
        summary["easymocap_files"] = write_easymocap(body, a.out, a.easymocap)
    print(json.dumps(summary))


@command(
    "fit-images",
    arg("--coco", required=True, type=Path, help="COCO keypoint annotations (person_keypoints_*.json)"),
    BODY,
    params("ntop.fit.core.FitConfig fields as JSON"),
    arg("--out", required=True, type=Path, help="EFT-style JSON"),
    THREADS,
)
def _cmd_fit_images(a: argparse.Namespace) -> None:
    """One SMPL fit per annotated person of a COCO keypoint file, written in EFT's JSON layout."""
    import torch

    from ntop.fit.core import FitConfig
    from ntop.fit.images import fit_images

    torch.set_num_threads(a.threads)
    print(json.dumps(fit_images(a.coco, _body(a.body_model), a.out, FitConfig.from_dict(_params(a.params)))))


# ----------------------------------------------------------------------------------------------
# masks and the NeRF
# ----------------------------------------------------------------------------------------------

MASK_INPUTS = (
    BODY,
    arg("--smpl", type=Path, help="fit_smpl's smpl.h5 (default: the capture's ground-truth bodies)"),
    arg("--cameras", type=Path, help="calibrate's calibration.h5 (default: the capture's cameras)"),
    params("the masks settings as JSON (ntop.masks.MasksConfig)"),
    OUT,
)


@command(
    "background",
    arg("--capture", required=True, type=Path, action="append", help="capture.h5 of an action (repeat)"),
    arg("--frames", required=True, type=Path, action="append", help="its frames.h5 (same order)"),
    *MASK_INPUTS,
)
def _cmd_background(a: argparse.Namespace) -> None:
    """Model each camera's background from a subject's actions (or take the given empty frames)."""
    from ntop.masks import MasksConfig, model_backgrounds

    cfg = MasksConfig.from_dict(_params(a.params))
    print(
        json.dumps(
            model_backgrounds(
                _body(a.body_model), _paired(a, "capture", "frames"), a.out, cfg, smpl=a.smpl, cameras_path=a.cameras
            )
        )
    )


@command(
    "segment",
    arg("--capture", required=True, type=Path),
    arg("--frames", required=True, type=Path),
    arg("--background", type=Path, help="the subject's background.h5 (method bgsub)"),
    arg("--preview", type=Path, help="write a preview sheet (PNG) here"),
    THREADS,
    *MASK_INPUTS,
)
def _cmd_segment(a: argparse.Namespace) -> None:
    """Foreground masks of one action: provided, background subtraction and/or SMPL refinement."""
    from ntop.masks import MasksConfig, segment

    cfg = MasksConfig.from_dict(_params(a.params))
    inputs = {"smpl": a.smpl, "cameras_path": a.cameras, "background": a.background}
    summary = segment(_body(a.body_model), a.capture, a.frames, a.out, cfg, **inputs, preview=a.preview, threads=a.threads)
    print(json.dumps(summary))


@command(
    "prepare-nerf",
    arg("--subject", required=True),
    arg("--capture", required=True, type=Path, action="append", help="capture.h5 of a training action (repeat)"),
    arg("--frames", required=True, type=Path, action="append", help="its frames.h5 (same order)"),
    arg("--masks", required=True, type=Path, action="append", help="its masks.h5 from segment (same order)"),
    BODY,
    arg("--smpl", type=Path, help="fit_smpl's smpl.h5 (default: the captures' ground-truth bodies)"),
    arg("--cameras", type=Path, help="calibrate's calibration.h5 (default: the captures' cameras)"),
    params("heldout_cameras, train_cameras, frame_stride, volume_resolution as JSON"),
    OUT,
)
def _cmd_prepare_nerf(a: argparse.Namespace) -> None:
    """Gather a subject's training frames, masks and SMPL into the NeRF's dataset.h5."""
    from ntop.nerf.prepare import PrepareConfig, prepare
    from ntop.settings import settings_from_dict

    cfg = settings_from_dict(PrepareConfig, _params(a.params), "nerf")
    captures = _paired(a, "capture", "frames", "masks")
    print(json.dumps(prepare(_body(a.body_model), captures, a.out, cfg, a.subject, smpl=a.smpl, cameras_path=a.cameras)))


@command(
    "train-nerf",
    arg("--dataset", required=True, type=Path),
    OUT,
    arg("--workdir", required=True, type=Path),
    params("training settings as JSON (see ntop.nerf.train.TrainConfig)"),
    THREADS,
)
def _cmd_train_nerf(a: argparse.Namespace) -> None:
    """Train (or resume) a subject's NeRF; checkpoints and the training log go to --workdir."""
    import torch

    from ntop.nerf.evaluate import heldout_metrics
    from ntop.nerf.train import TrainConfig, train

    torch.set_num_threads(a.threads)
    print(json.dumps(train(a.dataset, a.out, a.workdir, TrainConfig.from_dict(_params(a.params)), heldout_eval=heldout_metrics)))


@command(
    "eval-nerf",
    arg("--dataset", required=True, type=Path),
    arg("--model", required=True, type=Path),
    arg("--out-json", required=True, type=Path),
    arg("--out-sheet", required=True, type=Path),
    params("frame_stride, samples, device as JSON"),
    THREADS,
)
def _cmd_eval_nerf(a: argparse.Namespace) -> None:
    """Render the held-out cameras and measure PSNR/SSIM against the real frames."""
    import torch

    from ntop.nerf.evaluate import evaluate
    from ntop.nerf.train import load_model
    from ntop.settings import resolve_device

    torch.set_num_threads(a.threads)
    p = _params(a.params)
    field, _ = load_model(a.model, resolve_device(p.pop("device", "auto"), "nerf.eval.device"))
    report = evaluate(a.dataset, field, a.out_json, a.out_sheet, **p)
    print(json.dumps(report["mean"]))


# ----------------------------------------------------------------------------------------------
# views, renders, labels, the dataset
# ----------------------------------------------------------------------------------------------


@command(
    "plan-views",
    arg("--capture", required=True, type=Path),
    arg("--smpl", type=Path, help="fit_smpl's smpl.h5 (default: the capture's ground-truth bodies)"),
    params("rig settings (ntop.views.RigConfig) and codes as JSON"),
    OUT,
)
def _cmd_plan_views(a: argparse.Namespace) -> None:
    """Place the virtual top-view fisheye cameras for every rendered frame."""
    from ntop.views import DEFAULT_CODES, RigConfig, plan_views

    p = _params(a.params)
    codes = tuple(p.pop("codes", DEFAULT_CODES))
    print(json.dumps(plan_views(a.capture, a.out, RigConfig.from_dict(p), codes, smpl_path=a.smpl)))


@command(
    "render-fisheye",
    arg("--model", required=True, type=Path),
    arg("--views", required=True, type=Path),
    BODY,
    params("image format, background, samples, device as JSON"),
    OUT,
    THREADS,
)
def _cmd_render_fisheye(a: argparse.Namespace) -> None:
    """Render every planned view with the subject's NeRF (resumes an interrupted run)."""
    import torch

    from ntop.fisheye import RenderConfig, render_fisheye

    torch.set_num_threads(a.threads)
    print(json.dumps(render_fisheye(a.model, a.views, _body(a.body_model), a.out, RenderConfig.from_dict(_params(a.params)))))


@command(
    "annotate",
    arg("--views", required=True, type=Path),
    arg("--render", required=True, type=Path),
    BODY,
    params("codes, licence, bbox_margin as JSON"),
    OUT,
)
def _cmd_annotate(a: argparse.Namespace) -> None:
    """Write COCO, detection-box, HybrIK and 3DMPPE labels for the rendered views."""
    from ntop.annotate.stage import UNKNOWN_LICENCE, annotate
    from ntop.views import DEFAULT_CODES

    p = _params(a.params)
    codes = tuple(p.get("codes", DEFAULT_CODES))
    licence = p.get("licence", UNKNOWN_LICENCE)
    summary = annotate(
        a.views,
        a.render,
        _body(a.body_model),
        a.out,
        codes,
        licence,
        bbox_margin=p.get("bbox_margin", 0.05),
        body_path=a.body_model,
    )
    print(json.dumps(summary))


@command(
    "assemble",
    arg("--item", required=True, action="append", help="subject,action,render_dir,labels_dir (repeat)"),
    params("splits, images (copy|link), title as JSON"),
    OUT,
)
def _cmd_assemble(a: argparse.Namespace) -> None:
    """Merge every subject/action into the dataset folder (splits, card, manifest)."""
    from ntop.assemble import assemble

    p = _params(a.params)
    items = [dict(zip(("subject", "action", "render", "labels"), spec.split(",", 3))) for spec in a.item]
    if any(len(it) != 4 for it in items):
        raise NtopError("--item takes subject,action,render_dir,labels_dir")
    print(
        json.dumps(
            assemble(items, p.get("splits", {}), a.out, p.get("images", "copy"), p.get("title", "ntop dataset"), p.get("config"))
        )
    )


@command(
    "provenance",
    arg("path", type=Path, help="a stage output, an assembled dataset, or a file inside one"),
    arg("--full", action="store_true", help="print parameters in full"),
    arg("--json", action="store_true", help="the lineage as nested JSON"),
)
def _cmd_provenance(a: argparse.Namespace) -> None:
    """Print where a file came from: stages, parameters, code version, raw inputs."""
    from ntop.provenance import explain, format_tree

    tree = explain(a.path)
    print(json.dumps(tree, indent=1) if a.json else "\n".join(format_tree(tree, full=a.full)))


# ----------------------------------------------------------------------------------------------
# ntop qa
# ----------------------------------------------------------------------------------------------


@command(
    "capture",
    arg("--capture", required=True, type=Path, action="append", help="an action's capture.h5 (repeat, with --frames)"),
    arg("--frames", required=True, type=Path, action="append", help="its frames.h5"),
    BODY,
    arg("--out-sheet", required=True, type=Path),
    *QA_REPORT,
    qa=True,
)
def _cmd_qa_capture(a: argparse.Namespace) -> None:
    """Check a subject's captures against their ground truth and draw its contact sheet."""
    from ntop.qa.capture import run

    report = run(_paired(a, "capture", "frames"), _body(a.body_model), a.out_json, a.out_sheet)
    _qa_verdict(report, a, "ground-truth", {k: r["checks"] for k, r in report["actions"].items()})


@command(
    "keypoints",
    arg("--capture", required=True, type=Path),
    arg("--keypoints2d", required=True, type=Path),
    arg("--keypoints3d", required=True, type=Path),
    arg("--calibration", type=Path),
    arg(
        "--calibration-is-a-check",
        action="store_true",
        help="nothing downstream uses the calibration: its bar warns, never fails",
    ),
    *QA_REPORT,
    qa=True,
)
def _cmd_qa_keypoints(a: argparse.Namespace) -> None:
    """Detections, triangulation (MPJPE) and calibration against the ground truth."""
    from ntop.qa.keypoints import run

    report = run(
        a.capture, a.keypoints2d, a.keypoints3d, a.out_json, a.calibration, calibration_used=not a.calibration_is_a_check
    )
    _qa_verdict(report, a, "keypoint", report["checks"])


@command(
    "masks",
    arg("--masks", required=True, type=Path),
    arg("--capture", required=True, type=Path),
    arg("--keypoints3d", type=Path, help="triangulated joints: check the cameras' masks against each other"),
    arg("--out-sheet", type=Path, help="the worst frame of each camera, doubtful pixels coloured (PNG)"),
    *QA_REPORT,
    qa=True,
)
def _cmd_qa_masks(a: argparse.Namespace) -> None:
    """Masks against the ground truth (IoU per frame, mean, worst; the SMPL prior beside them) and
    against each other (the share of each camera's mask the other views support)."""
    from ntop.qa.masks import run

    report = run(a.masks, a.capture, a.out_json, a.keypoints3d, a.out_sheet)
    _qa_verdict(report, a, "mask", report)


@command(
    "fit",
    arg("--smpl", required=True, type=Path),
    arg("--capture", required=True, type=Path, action="append", help="capture.h5 of an action (repeat)"),
    arg("--keypoints2d", type=Path, action="append", help="a real capture's detections, per --capture"),
    arg("--keypoints3d", type=Path, action="append", help="its triangulated joints, per --capture"),
    arg("--masks", type=Path, action="append", help="its masks.h5, per --capture"),
    BODY,
    *QA_REPORT,
    qa=True,
)
def _cmd_qa_fit(a: argparse.Namespace) -> None:
    """Fitted bodies against the ground truth (MPJPE, PA-MPJPE, vertex error), or against detections and masks."""
    from ntop.qa.fit import run

    k3 = a.keypoints3d or [None] * len(a.keypoints2d or [])
    evidence = list(zip(a.keypoints2d, k3, a.masks)) if a.keypoints2d else None
    if a.keypoints2d and not (len(a.keypoints2d) == len(a.masks or []) == len(k3)):
        raise NtopError("give --keypoints2d, --masks (and --keypoints3d) once per --capture")
    report = run(a.smpl, a.capture, _body(a.body_model), a.out_json, evidence)
    _qa_verdict(report, a, "fit", report)


@command(
    "labels",
    arg("--views", required=True, type=Path, action="append", help="an action's views.h5 (repeat, with --render and --labels)"),
    arg("--render", required=True, type=Path, action="append"),
    arg("--labels", required=True, type=Path, action="append"),
    BODY,
    *QA_REPORT,
    qa=True,
)
def _cmd_qa_labels(a: argparse.Namespace) -> None:
    """Check labels against independent projections, the rendered alpha and ray casting."""
    from ntop.qa.labels import run

    report = run(_paired(a, "views", "render", "labels"), _body(a.body_model), a.out_json)
    _qa_verdict(report, a, "label", {k: r["checks"] for k, r in report["actions"].items()})


@command(
    "summary",
    arg("--report", required=True, action="append", help="a QA JSON file (repeat)"),
    arg("--out-html", required=True, type=Path),
    arg("--out-tsv", required=True, type=Path),
    qa=True,
)
def _cmd_qa_summary(a: argparse.Namespace) -> None:
    """One table (HTML and TSV) of every QA report's figures and verdicts."""
    from ntop.qa.summary import write_summary

    print(json.dumps(write_summary(a.report, a.out_html, a.out_tsv)))


# ----------------------------------------------------------------------------------------------
# the parser and the entry point
# ----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="ntop", description="Top-view fisheye human-pose datasets: the stage commands the workflow runs."
    )
    sub = ap.add_subparsers(dest="command", required=True)
    qa = sub.add_parser("qa", help="measure stages against ground truth").add_subparsers(dest="qa_command", required=True)
    for c in COMMANDS:
        p = (qa if c.qa else sub).add_parser(c.name, help=c.handler.__doc__, description=c.handler.__doc__)
        p.set_defaults(fn=c.handler, label=f"qa {c.name}" if c.qa else c.name)
        for flags, options in c.arguments:
            p.add_argument(*flags, **options)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    quiet_failed_writes()
    try:
        args.fn(args)
    except NtopError as e:
        print(f"ntop {args.label}: error: {e}", file=sys.stderr)
        if isinstance(e, WriteError):  # HDF5 crashes in its own teardown after a failed write
            sys.stderr.flush()
            os._exit(2)
        return 2
    except OSError as e:  # unwritable folder, disk full, vanished file: the system's words, with the path
        where = f"{e.filename}: " if e.filename else ""
        print(f"ntop {args.label}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ntop {args.label}: interrupted; no output was written", file=sys.stderr)
        return 130
    print(f"ntop {args.label}: done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
