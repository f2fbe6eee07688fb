"""A real person: Pose2Sim's demo trial through BlazePose, the subject's choice and triangulation, with
aniposelib as the peer in the same run; BlazePose on the synthetic demo against its ground truth; and
the trial's workflow figures when ``results/`` holds them.

    pip install --no-deps aniposelib==0.8.0 && pip install toml pandas tqdm jax   # the peer, without its opencv-contrib
    python benchmarks/real_capture.py [--variant full|heavy] [--threads 2] [--results results] [--workflow-only]

Everything is at the trial's full resolution (1080/1088 x 1920): the detector reads the videos directly.
Reprojection: each triangulated joint against the detections of the views that made it (ntop: its
inliers; aniposelib's plain DLT: every view with the joint). Leave-one-camera-out: triangulate from the
other three cameras, project into the fourth, against its own confident detections (>= 0.5). Limbs:
the 12 torso and limb joints (shoulders to ankles).

The held-out view: beside the NeRF's figures, its peer without learning, the fitted body coloured from
the training cameras' frames of the same instant (projective texturing), and how much of the held-out
view's body none of them sees. And every camera at three frames: the NeRF on the views it trained on
beside the held-out one, what each would score with the outline band (where the NeRF's opacity and
the frame's mask disagree) taken from the frame, with the best colour correction per image, and how
well the outline is pinned down at all: the visual hull of the masks (all four; the other three)
against each mask, beside the fitted body and the NeRF.

The person in the background: a chosen detection (or one found again where the other views put the
subject) belongs to someone else when its hip centre lies nearer the projection of another 3D track's
hips than the subject's; that count is printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt, map_coordinates

from ntop.body import BodyModel
from ntop.cameras import Camera
from ntop.datasets.pose2sim import trial_source
from ntop.datasets.rig import open_rig
from ntop.keypoints.blazepose import BlazePose, BlazePoseConfig, track_people
from ntop.keypoints.subject import SubjectConfig, people_tracks, subject_keypoints
from ntop.keypoints.triangulate import TriangulateConfig, temporal_filter, triangulate_points
from ntop.masks.stage import frame_ious
from ntop.nerf.evaluate import box_of, image_metrics
from ntop.nerf.prepare import NerfDataset, load_dataset
from ntop.nerf.render import render_image
from ntop.nerf.train import load_model
from ntop.qa.silhouettes import carved
from ntop.raster import Fragments, interpolate, rasterize, vertex_normals

LIMBS = slice(5, 17)
NAMES = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_sho",
    "r_sho",
    "l_elb",
    "r_elb",
    "l_wri",
    "r_wri",
    "l_hip",
    "r_hip",
    "l_kne",
    "r_kne",
    "l_ank",
    "r_ank",
)


def detect(variant: str, threads: int) -> dict[str, Any]:
    raw = open_rig(trial_source("Demo_SinglePerson"), "trial", "balance")
    cfg = BlazePoseConfig(variant=variant, threads=threads)
    model = BlazePose(variant, threads=threads)
    frames = [[rgb for _, rgb in raw.read(c, np.arange(raw.num_frames))] for c in range(len(raw.cameras))]
    t0 = time.perf_counter()
    found = [track_people(f, cfg, model) for f in frames]
    seconds = time.perf_counter() - t0
    found = {k: np.stack([f[k] for f in found]) for k in found[0]}
    t0 = time.perf_counter()
    look = lambda c, t, expected: model.look_at(frames[c][t], expected)  # noqa: E731
    subject = subject_keypoints(raw.cameras, found, look, SubjectConfig())  # as the workflow's detect_keypoints does
    report = subject.report
    choice_s = time.perf_counter() - t0
    n = sum(len(f) for f in frames)
    print(
        f"BlazePose {variant}, {threads} thread(s): {n} frames of 4 cameras in {seconds:.1f} s = {n / seconds:.1f} frames/s "
        f"(every person; detector every 5th frame on the frame and 10 windows); subject choice + swaps {choice_s:.2f} s"
    )
    print(f"  people followed per camera: {[len(np.unique(t[t >= 0])) for t in found['track']]}; 3D tracks: "
          f"{[(p['floor_m'], p['frames'], p['support']) for p in report['people']]}")  # fmt: skip
    print(
        f"  subject in {report['frames_with_subject']} frames, {report['views_per_frame']:.2f} views per frame;"
        f" found again where the other views put him, per camera {subject.filled.sum(1).tolist()};"
        f" left/right swapped per camera {subject.swapped.sum(1).tolist()}"
    )
    seen = (subject.chosen >= 0) | subject.filled
    return {"cams": raw.cameras, "found": found, "seen": seen, "uv": subject.uv, "conf": subject.conf, "report": report}


def bystander_frames(d: dict[str, Any]) -> int:
    """(view, frame) pairs whose subject's hips are nearer another person's projected hips."""
    cams, found, seen = d["cams"], d["found"], d["seen"]
    tracks = people_tracks(cams, found["joints"], found["confidence"], SubjectConfig())
    wrong = 0
    for c, cam in enumerate(cams):
        for t in range(seen.shape[1]):
            if not seen[c, t]:
                continue
            hips = d["uv"][c, t, 11:13].mean(0)
            dist = [
                np.linalg.norm(cam.project(tr.hips[tr.frames.index(t)][None])[0][0] - hips) if t in tr.frames else np.inf
                for tr in tracks
            ]
            wrong += int(np.argmin(dist) != 0)
    return wrong


def _errors(cams: list[Any], X: np.ndarray, uv: np.ndarray, use: np.ndarray) -> np.ndarray:
    C = len(cams)
    out = np.full(use.shape, np.nan)
    for c in range(C):
        px, _ = cams[c].project(X.reshape(-1, 3))
        out[c] = np.where(use[c], np.linalg.norm(px.reshape(uv[c].shape) - uv[c], axis=-1), np.nan)
    return out


def triangulation(d: dict[str, Any]) -> None:
    import cv2
    from aniposelib.cameras import Camera as AniCamera
    from aniposelib.cameras import CameraGroup

    cams, uv, conf = d["cams"], d["uv"], d["conf"]
    C, T, J = conf.shape
    confident = conf >= 0.5
    cfg = TriangulateConfig(threshold_px=20.0, temporal_gate_m=0.15, median_window=7, smooth_window=7)

    def ours(sub: list[int], filtered: bool) -> tuple[np.ndarray, np.ndarray]:
        res = triangulate_points([cams[c] for c in sub], uv[sub].reshape(len(sub), -1, 2), conf[sub].reshape(len(sub), -1), cfg)
        X = res["points"].reshape(T, J, 3)
        return (temporal_filter(X, cfg)[0] if filtered else X), res["inliers"].reshape(T, J, len(sub)).transpose(2, 0, 1)

    def peer(sub: list[int]) -> np.ndarray:
        ani = [
            AniCamera(
                matrix=cam.K_matrix,
                dist=cam.dist,
                size=(cam.width, cam.height),
                rvec=cv2.Rodrigues(cam.R)[0].ravel(),
                tvec=cam.t,
                name=cam.name,
            )
            for cam in (cams[c] for c in sub)
        ]
        group = CameraGroup(ani)
        pts = np.where(confident[sub][..., None], uv[sub], np.nan).reshape(len(sub), -1, 2)
        return group.triangulate(pts, undistort=True, progress=False).reshape(T, J, 3)

    everyone = list(range(C))
    rows = []
    for name, run in (("ntop (MSAC per joint)", lambda s: ours(s, False)), ("ntop + temporal filter", lambda s: ours(s, True)),
                      ("aniposelib triangulate (DLT)", lambda s: (peer(s), confident[s]))):  # fmt: skip
        t0 = time.perf_counter()
        X, used = run(everyone)
        seconds = time.perf_counter() - t0
        reproj = _errors(cams, X, uv, used & confident)
        loo = np.full((C, T, J), np.nan)
        for c in everyone:
            others = [o for o in everyone if o != c]
            Xo, _ = run(others)
            loo[c] = _errors([cams[c]], Xo, uv[c : c + 1], confident[c : c + 1])[0]
        limbs = 100 * np.isfinite(X[:, LIMBS, 0]).mean()
        rows.append(
            (
                name,
                seconds,
                np.nanmedian(reproj),
                np.nanpercentile(reproj, 90),
                np.nanmedian(loo),
                [np.nanmedian(x) for x in loo],
                limbs,
                loo,
            )
        )
    print(f"\nTriangulation at full resolution ({T} frames x {J} joints x {C} cameras), the same detections:")
    print(f"{'method':30s} {'s':>6s} {'reproj med':>10s} {'p90':>6s} {'LOO med':>8s} {'LOO per camera':>30s} {'limbs %':>8s}")
    for name, s, med, p90, loo_med, per_cam, limbs, _ in rows:
        print(
            f"{name:30s} {s:6.2f} {med:10.1f} {p90:6.1f} {loo_med:8.1f} "
            f"{str([round(float(x), 1) for x in per_cam]):>30s} {limbs:8.1f}"
        )
    loo = rows[1][-1]
    print(
        "  leave-one-camera-out median per joint (ntop + filter): "
        + ", ".join(f"{n} {np.nanmedian(loo[:, :, j]):.0f}" for j, n in enumerate(NAMES))
    )
    bones = {"thigh": (11, 13), "shin": (13, 15), "upper arm": (5, 7), "shoulders": (5, 6), "hips": (11, 12)}
    X = ours(everyone, True)[0]
    print(
        "  bone lengths (median, m): "
        + ", ".join(f"{k} {np.nanmedian(np.linalg.norm(X[:, a] - X[:, b], axis=-1)):.3f}" for k, (a, b) in bones.items())
    )


def refinement(d: dict[str, Any]) -> None:
    """The file's calibration against the same refined on the keypoints of even frames, measured on odd frames."""
    from ntop.keypoints.calibrate import CalibrateConfig, refine_cameras

    cams, uv, conf = d["cams"], d["uv"], d["conf"]
    C, T, J = conf.shape
    even, odd = np.arange(0, T, 2), np.arange(1, T, 2)
    refined, report = refine_cameras(cams, uv[:, even], conf[:, even], CalibrateConfig(refine=True, threshold_px=12.0))
    cfg = TriangulateConfig(threshold_px=20.0)
    confident = conf[:, odd] >= 0.5
    for name, rig in (("the Qualisys file", cams), ("refined on even frames", refined)):
        loo = []
        for c in range(C):
            others = [o for o in range(C) if o != c]
            res = triangulate_points(
                [rig[o] for o in others], uv[others][:, odd].reshape(C - 1, -1, 2), conf[others][:, odd].reshape(C - 1, -1), cfg
            )
            loo.append(_errors([rig[c]], res["points"].reshape(len(odd), J, 3), uv[c : c + 1, odd], confident[c : c + 1])[0])
        per = [float(np.nanmedian(x)) for x in loo]
        median = np.nanmedian(np.stack(loo))
        print(f"  {name:24s} leave-one-camera-out on odd frames: median {median:.1f} px, per camera {np.round(per, 1).tolist()}")
    rot, centre = report["rotation_change_deg"], report["centre_change_m"]
    rot, centre = np.round(list(rot.values()), 2).tolist(), np.round(list(centre.values()), 3).tolist()
    print(f"  refinement moved the cameras by {rot} deg and {centre} m")


def synthetic_accuracy(threads: int, variant: str) -> None:
    """BlazePose on the synthetic demo's frames (seed 7, walk, 4 cameras, 256 px) against the true COCO-17 pixels."""
    from ntop.body import BodyModel
    from ntop.body.procedural import cached_path
    from ntop.datasets.synthetic.capture import SyntheticConfig, generate
    from ntop.datasets.synthetic.raw import open_raw

    with tempfile.TemporaryDirectory() as tmp:
        generate(BodyModel.from_file(cached_path()), "demo", "walk", SyntheticConfig(seed=7), Path(tmp) / "raw")
        raw = open_raw(Path(tmp) / "raw", "demo", "walk")
        gt, seen = raw.gt["joints2d/coco17"], raw.gt["visibility/coco17"] > 0  # (C, T, J, 2), (C, T, J)
        cfg = BlazePoseConfig(variant=variant, threads=threads, tiled=False)
        found = [track_people((rgb for _, rgb in raw.read(c, np.arange(raw.num_frames))), cfg) for c in range(len(raw.cameras))]
    uv = np.stack([f["joints"][:, 0] for f in found])
    detected = np.stack([f["track"][:, 0] >= 0 for f in found])
    err = np.where(seen & detected[..., None], np.linalg.norm(uv - gt, axis=-1), np.nan)
    print(f"\nBlazePose {variant} on the synthetic demo (walk, 4 x {raw.num_frames} frames, 256 px, the procedural body): "
          f"person found in {100 * detected.mean():.1f} % of images; median error {np.nanmedian(err):.1f} px")  # fmt: skip
    print("  per joint (px): " + ", ".join(f"{n} {np.nanmedian(err[..., j]):.1f}" for j, n in enumerate(NAMES)))


def _fragments(verts: torch.Tensor, faces: torch.Tensor, cam: Camera) -> Fragments:
    v = cam.world_to_camera(verts)[None]
    K, dist = torch.as_tensor(cam.K)[None], torch.as_tensor(cam.dist)[None]
    return rasterize(v, faces, cam.model, K, dist, cam.width, cam.height, cam.fov_deg)


def _posed_vertices(ds: NerfDataset, weights: torch.Tensor, t: int) -> torch.Tensor:
    """Frame ``t``'s body, skinned from the canonical one with the transforms the NeRF is driven by."""
    blend = torch.einsum("vj,jxy->vxy", weights, ds.posed.transforms[t].double())
    return (blend[:, :3, :3] @ ds.canonical_vertices.double()[:, :, None])[..., 0] + blend[:, :3, 3]


def _texture_from_training_views(
    ds: NerfDataset, verts: torch.Tensor, faces: torch.Tensor, points: np.ndarray, normals: np.ndarray, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Colours ``(N, 3)`` of surface ``points`` from the training cameras that see them (in front in
    their depth buffer, inside their mask), weighted by how squarely; and which points any camera saw."""
    acc, total = np.zeros((len(points), 3)), np.zeros(len(points))
    for name in ds.train_cameras:
        cam = ds.cameras[name]
        depth = _fragments(verts, faces, cam).depth[0].numpy()
        uv, valid = cam.project(points)
        px = np.clip(np.rint(uv).astype(int), 0, [cam.width - 1, cam.height - 1])
        distance = np.linalg.norm(cam.world_to_camera(points), axis=1)
        toward = cam.center - points
        facing = np.einsum("nk,nk->n", normals, toward / np.linalg.norm(toward, axis=1, keepdims=True))
        in_front = np.abs(depth[px[:, 1], px[:, 0]] - distance) < 0.02
        seen = valid & in_front & ds.masks[name][t][px[:, 1], px[:, 0]] & (facing > 0)
        image = ds.images[name][t].astype(np.float64) / 255
        colour = np.stack([map_coordinates(image[..., k], uv[:, ::-1].T, order=1, mode="nearest") for k in range(3)], -1)
        w = np.where(seen, facing, 0.0)
        acc += w[:, None] * colour
        total += w
    return acc / np.maximum(total, 1e-9)[:, None], total > 0


def _nearest(known: np.ndarray) -> np.ndarray:
    """For every pixel, the number (in row-major order among ``known``'s true pixels) of the nearest one."""
    _, (ys, xs) = distance_transform_edt(~known, return_indices=True)
    order = np.full(known.shape, -1)
    order[known] = np.arange(known.sum())
    return order[ys, xs]


def projective_texturing(dataset: Path, body_path: Path, frame_stride: int = 8) -> dict[str, float]:
    """The held-out view's peer without learning: the NeRF's own body, rasterised in the held-out camera
    and coloured from the training cameras' frames at the same instant (each surface point from the
    views that see it; points none sees filled from their neighbours in the image), scored as
    ``eval_nerf`` scores the NeRF (same frames, body box, black off the body). Also: the share of the
    held-out camera's visible body no training camera saw, and an oracle that keeps the peer's colours
    where a training camera saw the surface but takes the held-out frame's own outline and its pixels
    elsewhere: what a perfect body and perfect fill would add."""
    ds = load_dataset(dataset)
    weights, faces = BodyModel.from_file(body_path).weights.double(), ds.canonical_faces
    rows = []
    for cam_name in ds.heldout_cameras:
        cam = ds.cameras[cam_name]
        for t in range(0, ds.num_frames, frame_stride):
            verts = _posed_vertices(ds, weights, t)
            frags = _fragments(verts, faces, cam)
            on_body = frags.mask[0].numpy()
            points = interpolate(verts[None], faces, frags)[0].numpy()[on_body]
            normals = interpolate(vertex_normals(verts[None], faces), faces, frags)[0].numpy()[on_body]
            normals /= np.linalg.norm(normals, axis=1, keepdims=True)
            colour, seen = _texture_from_training_views(ds, verts, faces, points, normals, t)
            mask = ds.masks[cam_name][t]
            truth = ds.images[cam_name][t].astype(np.float64) / 255 * mask[..., None]
            seen_px = np.zeros(mask.shape, bool)
            seen_px[on_body] = seen
            pred = np.zeros_like(truth)
            if seen.any():  # else none of the training cameras sees the body: black
                pred[on_body] = colour[seen][_nearest(seen_px)[on_body]]
            oracle = np.where((seen_px & mask)[..., None], pred, truth)
            peer, bound = image_metrics(pred, truth, mask), image_metrics(oracle, truth, mask)
            rows.append({"psnr_box": peer["psnr_box"], "ssim_box": peer["ssim_box"], "oracle_psnr_box": bound["psnr_box"],
                         "unseen": float(1 - seen.mean())})  # fmt: skip
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(frame_ious(a[None], b[None])[0])


def visual_hull(ds: NerfDataset, target: str, sources: list[str], t: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The ``sources`` cameras' masks carved into one volume, seen from ``target`` (the body's box
    around its mask): a pixel is in when its ray passes a point inside every source's mask, at one of
    400 points across the box ``lo..hi``."""
    mask, others = ds.masks[target][t], [(ds.cameras[name], ds.masks[name][t]) for name in sources]
    samples = 400  # 3 mm apart across 1.2 m: a horizontal ray through a standing body's box
    ys, xs = box_of(mask, grow=30)
    v, u = np.mgrid[ys, xs]
    pixels = np.stack([u.ravel(), v.ravel()], -1)
    chunks = np.array_split(pixels, -(-len(pixels) // 1024))
    hit = np.concatenate([carved(ds.cameras[target], chunk, others, lo, hi, samples) for chunk in chunks])
    out = np.zeros_like(mask)
    out[ys, xs] = hit.reshape(u.shape)
    return out


def best_colour_map(rgb: np.ndarray, alpha: np.ndarray, truth: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A render on black with its colours mapped, channel by channel, by the gain and offset that best fit
    ``truth`` on ``where`` (least squares): the most one colour correction per image (a camera's exposure,
    white balance) could add."""
    out, seen, frame, opacity = np.empty_like(rgb), rgb[where], truth[where], alpha[where]
    for c in range(3):
        gain, offset = np.linalg.lstsq(np.stack([seen[:, c], opacity], 1), frame[:, c], rcond=None)[0]
        out[..., c] = np.clip(gain * rgb[..., c] + offset * alpha, 0, 1)
    return out


def outlines_and_training_views(
    dataset: Path, model: Path, body_path: Path, frames: tuple[int, ...] = (8, 40, 72)
) -> dict[str, dict[str, float]]:
    """Per camera (training ones, then held-out), at the same frames:

    - the NeRF's body-box PSNR; the same with the outline band (opacity above 0.5 on one side of the
      mask's edge only) copied from the frame; that band's share of the mask and of the box's squared error;
      the box PSNR with the render's colours mapped by the best gain and offset per channel (fitted where
      both call it body), and with both that and the band from the frame;
    - the IoU with the camera's own mask of: the visual hull of all four cameras' masks (how far the
      masks agree in 3D), that of the other three (the outline they pin down without this camera), the
      fitted body and the NeRF's opacity."""
    ds, (field, _) = load_dataset(dataset), load_model(model)
    weights, faces = BodyModel.from_file(body_path).weights.double(), ds.canonical_faces
    cams, rows = ds.train_cameras + ds.heldout_cameras, []
    for t in frames:
        verts = _posed_vertices(ds, weights, t)
        lo, hi = verts.numpy().min(0) - 0.15, verts.numpy().max(0) + 0.15
        for cam in cams:
            mask = ds.masks[cam][t]
            truth = ds.images[cam][t].astype(np.float64) / 255 * mask[..., None]
            rgb, alpha, _ = render_image(field, ds.posed, t, ds.cameras[cam], background=(0.0, 0.0, 0.0))
            rgb, opaque = rgb.astype(np.float64), alpha > 0.5
            band, mapped = mask ^ opaque, best_colour_map(rgb, alpha, truth, mask & opaque)
            ys, xs = box_of(mask)
            err = ((rgb - truth) ** 2).sum(-1)[ys, xs]
            rows.append({
                "camera": cam,
                "psnr_box": image_metrics(rgb, truth, mask)["psnr_box"],
                "outline_fixed_psnr_box": image_metrics(np.where(band[..., None], truth, rgb), truth, mask)["psnr_box"],
                "band_of_mask": band.sum() / mask.sum(), "band_error": err[band[ys, xs]].sum() / err.sum(),
                "colour_fixed_psnr_box": image_metrics(mapped, truth, mask)["psnr_box"],
                "both_fixed_psnr_box": image_metrics(np.where(band[..., None], truth, mapped), truth, mask)["psnr_box"],
                "hull_all_iou": _iou(visual_hull(ds, cam, cams, t, lo, hi), mask),
                "hull_others_iou": _iou(visual_hull(ds, cam, [c for c in cams if c != cam], t, lo, hi), mask),
                "body_iou": _iou(_fragments(verts, faces, ds.cameras[cam]).mask[0].numpy(), mask),
                "nerf_iou": _iou(opaque, mask),
            })  # fmt: skip
    keys = [k for k in rows[0] if k != "camera"]
    return {c: {k: float(np.mean([r[k] for r in rows if r["camera"] == c])) for k in keys} for c in cams}


def workflow_figures(results: Path) -> None:
    files = {"keypoints": results / "qa/keypoints/pose2sim/balance.json", "fit": results / "qa/fit/pose2sim.json",
             "nerf": results / "nerf/pose2sim/eval.json", "labels": results / "qa/labels/pose2sim.json"}  # fmt: skip
    if not all(p.is_file() for p in files.values()):
        print(f"\n(no workflow results under {results}: run snakemake --cores all --configfile config/pose2sim_demo.yaml)")
        return
    r = {k: json.loads(p.read_text()) for k, p in files.items()}
    tri, fit = r["keypoints"]["checks"]["triangulation"], r["fit"]["overall"]
    print("\nWorkflow on the trial (config/pose2sim_demo.yaml, results/):")
    print(
        f"  triangulation: reprojection median {tri['reprojection_median_px']:.1f} px, leave-one-out "
        f"{tri['leave_one_out_median_px']:.1f} px, limbs {tri['triangulated_limbs_pct']:.1f} % (full-resolution pixels)"
    )
    print(
        f"  fitted body: joints vs the detections the triangulation kept {fit['joints_vs_kept_detections_median_px']:.1f} px "
        f"(the triangulation's own {fit['triangulation_reprojection_median_px']:.1f}; all confident detections "
        f"{fit['joints_vs_detections_median_px']:.1f}), mask IoU mean {fit['mask_iou_mean']:.3f}"
    )
    if fit.get("keypoint_offsets_max_cm") is not None:
        print(
            f"  ... the model's own joints (without the keypoint offsets) {fit['model_joints_vs_kept_detections_median_px']:.1f} px; "
            f"largest keypoint offset {fit['keypoint_offsets_max_cm']:.1f} cm"
        )
    nerf = r["nerf"]["mean"]
    held, box, ssim, full = r["nerf"]["heldout_cameras"], nerf["psnr_box"], nerf["ssim_box"], nerf["psnr_full"]
    print(f"  NeRF, held-out {held}: body-box PSNR {box:.2f} dB, SSIM {ssim:.3f}; full image {full:.2f} dB")
    nerf_dir, body_path = results / "nerf/pose2sim", results.parent / "resources/body_model/anny_smpl.npz"
    peer = projective_texturing(nerf_dir / "dataset.h5", body_path)
    print(
        f"  ... peer, the same body coloured from the training views (no learning): {peer['psnr_box']:.2f} dB, SSIM "
        f"{peer['ssim_box']:.3f}; {100 * peer['unseen']:.0f} % of the held-out view's body no training camera sees; with the "
        f"held-out frame's own outline and unseen pixels (an oracle): {peer['oracle_psnr_box']:.2f} dB"
    )
    views = outlines_and_training_views(nerf_dir / "dataset.h5", nerf_dir / "model.pt", body_path)
    print("  ... every camera at frames 8, 40, 72 (training cameras first). The NeRF: box PSNR; the same with the outline")
    print("      band (opacity and mask disagree) taken from the frame; with the best colour map per image; with both;")
    print("      the band's share of the mask and of the box's squared error. Mask IoU of: the visual hull of all four")
    print("      masks, that of the other three, the fitted body, the NeRF:")
    for cam, v in views.items():
        print(
            f"      {cam}: {v['psnr_box']:.2f} dB, outline from the frame {v['outline_fixed_psnr_box']:.2f} dB, colour map "
            f"{v['colour_fixed_psnr_box']:.2f} dB, both {v['both_fixed_psnr_box']:.2f} dB; band "
            f"{100 * v['band_of_mask']:.1f} % of the mask, {100 * v['band_error']:.0f} % of the error | IoU hull of four "
            f"{v['hull_all_iou']:.3f}, of the others {v['hull_others_iou']:.3f}, body {v['body_iou']:.3f}, "
            f"NeRF {v['nerf_iou']:.3f}"
        )
    print(f"  labels passed: {r['labels'].get('passed')}")
    seconds = sum(float(p.read_text().splitlines()[1].split("\t")[0]) for p in (results / "benchmarks").rglob("*pose2sim*.tsv"))
    print(f"  the jobs' wall time summed: {seconds:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="full", choices=("lite", "full", "heavy"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument(
        "--workflow-only",
        action="store_true",
        help="only the workflow's figures (the held-out view's peer, the outlines: minutes)",
    )
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.workflow_only:
        workflow_figures(a.results)
        return
    d = detect(a.variant, a.threads)
    print(f"  the subject's detections nearer someone else's hips: {bystander_frames(d)} of {d['seen'].sum()}")
    triangulation(d)
    print("\nCalibration refined on the subject's keypoints (cameras: refine):")
    refinement(d)
    synthetic_accuracy(a.threads, a.variant)
    workflow_figures(a.results)


if __name__ == "__main__":
    main()
