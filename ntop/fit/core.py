"""SMPL fitting: one objective, batched over every frame of a subject, solved with L-BFGS.

The unknowns are one shape (``betas``) per subject and, per frame, the global orientation, the body
pose (axis-angle) and the translation. Data terms: 3D joints (triangulated keypoints) and/or 2D
keypoints seen through calibrated cameras, each weighted by confidence and made robust with a
Geman-McClure penalty (an outlier frame or joint costs at most ``sigma^2``). Priors: pose and shape
magnitude, anatomical limits (knees and elbows do not bend backwards), temporal smoothness of pose and
acceleration of translation (never across the boundary of two actions), and SMPLify's GMM pose prior
when the user gives its file. Initialisation is analytic: each frame's torso (hips and shoulders) is
aligned to the rest-pose torso (Kabsch), then the global terms are fitted before the pose, and the
robust scales are annealed from wide to narrow (a limb that starts far from its keypoints would
otherwise sit where Geman-McClure is flat).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ntop.align import procrustes
from ntop.body import JOINT_SETS, BodyModel
from ntop.cameras import Camera
from ntop.cameras import project as project_points
from ntop.errors import NtopError
from ntop.fit.robust import geman_mcclure
from ntop.fit.silhouette import SilhouetteTerm
from ntop.settings import resolve_device, settings_from_dict
from ntop.tracks import fill_gaps

__all__ = ["FitConfig", "View2D", "GMMPrior", "fit_bodies", "kabsch_init"]

TORSO = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
# (body_pose index = SMPL joint - 1, axis, sign): the direction each hinge may bend
OUTLIER_FRAME = 3.0  # a frame whose median joint misses by this many robust scales is dropped
ANNEAL = (20.0, 4.0, 1.0)  # multiples of the robust scales, one pose stage each
HINGES = ((3, 0, 1.0), (4, 0, 1.0), (17, 1, -1.0), (18, 1, 1.0))  # left/right knee about +x, left/right elbow about -y/+y


@dataclass
class FitConfig:
    robust_m: float = 0.05  # Geman-McClure scale of the 3D term (metres)
    robust_px: float = 15.0  # ... and of the 2D term (pixels)
    weight_3d: float = 1.0
    weight_2d: float = 0.0  # multi-view: also fit the 2D keypoints (0 = 3D only); monocular sets 1
    pixel_scale_m: float = 0.01  # a pixel's error is worth this many metres in the objective
    weight_pose: float = 1e-5
    weight_shape: float = 1e-5
    weight_limits: float = 1e-2
    weight_smooth_pose: float = 2e-4  # per frame-to-frame change (radians^2)
    weight_smooth_transl: float = 1.0  # per squared acceleration (metres^2)
    gmm_prior: str | None = None  # SMPLify's gmm_08.pkl, when the user has it
    weight_gmm: float = 1e-4
    weight_silhouette: float = 50.0  # per squared pixel (the 2D term weighs 1): used when masks are given
    silhouette_sigma_px: float = 4.0  # Geman-McClure scale of the silhouette term
    silhouette_rounds: int = 3  # the body's outline is found again before each round
    silhouette_iterations: int = 60  # L-BFGS iterations per round
    monocular_anchor: float = 1.0  # refining a monocular fit: weight of its own 3D joints (the 3D term's scale)
    iterations_global: int = 30
    iterations: int = 600
    device: str = "auto"

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "fit") -> "FitConfig":
        cfg = settings_from_dict(cls, d, where)
        if cfg.robust_m <= 0 or cfg.robust_px <= 0:
            raise NtopError("robust scales must be positive", where)
        return cfg


@dataclass
class View2D:
    """2D keypoints of one camera: ``uv (T, J, 2)`` pixels, ``conf (T, J)`` (0 = missing)."""

    camera: Camera
    uv: np.ndarray
    conf: np.ndarray


class GMMPrior(torch.nn.Module):
    """SMPLify's max-mixture Gaussian prior on the 69 body-pose values (``gmm_08.pkl``: means, covars, weights)."""

    def __init__(self, path: str | Path):
        super().__init__()
        try:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
        except FileNotFoundError:
            raise NtopError("GMM prior file not found", path, "fit.gmm_prior") from None
        except Exception as e:  # a pickle of the wrong kind raises anything
            raise NtopError(f"not a readable pickle ({type(e).__name__})", path) from None
        for key in ("means", "covars", "weights"):
            if key not in data:
                raise NtopError("missing", path, key)
        means, covars, weights = (np.asarray(data[k], dtype=np.float64) for k in ("means", "covars", "weights"))
        if means.ndim != 2 or means.shape[1] != 69 or covars.shape != (len(means), 69, 69) or weights.shape != (len(means),):
            raise NtopError(f"expected means (K, 69), covars (K, 69, 69), weights (K,); got {means.shape}, {covars.shape}, {weights.shape}", path)
        precisions = np.linalg.inv(covars)
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.register_buffer("precisions", torch.as_tensor(precisions, dtype=torch.float32))
        const = np.log(weights) - 0.5 * np.linalg.slogdet(covars)[1]
        self.register_buffer("const", torch.as_tensor(const, dtype=torch.float32))

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the best component per frame ``(B,)`` (up to a constant)."""
        d = body_pose.reshape(len(body_pose), 1, 69) - self.means
        maha = torch.einsum("bki,kij,bkj->bk", d, self.precisions, d)
        return (0.5 * maha - self.const).min(1).values


def relaxed_pose() -> np.ndarray:
    """The pose prior's centre ``(23, 3)``: standing relaxed, arms down along the body (SMPL's zero pose
    holds them out horizontally, which no one does for long), elbows slightly bent."""
    pose = np.zeros((23, 3))
    pose[15, 2], pose[16, 2] = -np.radians(65), np.radians(65)  # shoulders (SMPL joints 16, 17) about z
    pose[17, 1], pose[18, 1] = -np.radians(15), np.radians(15)  # elbows (18, 19) about y
    return pose


def kabsch_init(body: BodyModel, joints: np.ndarray, joint_set: str, betas: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame global orientation and translation that put the rest-pose torso onto observed joints
    ``(T, J, 3)`` (NaN = missing): from every torso joint a frame has, three at least (a hip a camera
    never sees must not stop a fit); frames with fewer borrow their neighbours'."""
    names = JOINT_SETS[joint_set].names
    if any(n not in names for n in TORSO):
        raise NtopError(f"joint set {joint_set} lacks the torso joints {TORSO}", field="joint_set")
    idx = [names.index(n) for n in TORSO]
    with torch.no_grad():
        rest = body.joints_only(torch.zeros(1, 3), torch.zeros(1, 23, 3), betas, None, joint_set)[0].double().numpy()[idx]
        pelvis = body.shaped(betas)[1][0, 0].double().numpy()
    obs = joints[:, idx]
    seen = np.isfinite(obs).all(-1)  # (T, 4)
    ok = seen.sum(1) >= 3
    if not ok.any():
        raise NtopError("no frame has three of the four torso joints (hips, shoulders)", field="joints")
    go, transl = np.full((len(joints), 3), np.nan), np.full((len(joints), 3), np.nan)
    for pattern in np.unique(seen[ok], axis=0):  # frames that see the same torso joints are aligned together
        rows, cols = ok & (seen == pattern).all(1), np.flatnonzero(pattern)
        R, _, t = procrustes(np.broadcast_to(rest[cols], (rows.sum(), len(cols), 3)), obs[rows][:, cols])
        go[rows] = Rotation.from_matrix(R).as_rotvec()
        transl[rows] = t + R @ pelvis - pelvis  # smplx turns the body about its pelvis, then translates
    return fill_gaps(go), fill_gaps(transl)


def fit_bodies(
    body: BodyModel,
    joint_set: str,
    cfg: FitConfig,
    joints3d: np.ndarray | None = None,
    weights3d: np.ndarray | None = None,
    views: list[View2D] = (),
    segments: np.ndarray | None = None,
    init: dict[str, np.ndarray] | None = None,
    silhouette: SilhouetteTerm | None = None,
) -> dict[str, np.ndarray]:
    """Fit ``T`` frames at once. ``joints3d (T, J, 3)`` with ``weights3d (T, J)``, and/or ``views``;
    ``segments (T,)`` labels the action of each frame (no smoothness across labels); ``init`` gives
    ``global_orient``/``transl`` (and optionally ``body_pose``, ``betas``) when there are no 3D joints to
    start from, or to refine; ``silhouette`` adds its term in rounds after the keypoint stages (each
    round finds the body's outline again). Returns SMPL parameters and per-frame residuals
    (``error_3d_m``, ``error_2d_px``; NaN where unused)."""
    if joints3d is None and not views:
        raise NtopError("nothing to fit: give 3D joints or 2D views", field="keypoints")
    dev = resolve_device(cfg.device, "fit.device")
    T = len(joints3d) if joints3d is not None else len(views[0].uv)
    seg = torch.as_tensor(np.zeros(T) if segments is None else segments, device=dev)
    same = (seg[1:] == seg[:-1]).float()
    same2 = same[1:] * same[:-1]
    body = body.to(dev)
    if init is None:
        assert joints3d is not None
        go0, tr0 = kabsch_init(body, joints3d, joint_set)
        init = {"global_orient": go0, "transl": tr0}
    f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    go = f32(init["global_orient"]).clone().requires_grad_(True)
    tr = f32(init["transl"]).clone().requires_grad_(True)
    pose = f32(init.get("body_pose", np.zeros((T, 23, 3)))).reshape(T, 23, 3).clone().requires_grad_(True)
    betas = f32(init.get("betas", np.zeros(body.num_betas))).reshape(1, -1)[:, : body.num_betas].clone().requires_grad_(True)
    gmm = GMMPrior(cfg.gmm_prior).to(dev) if cfg.gmm_prior else None
    if joints3d is not None:
        w3 = np.where(np.isfinite(joints3d).all(-1), 1.0 if weights3d is None else weights3d, 0.0)
        X, W3 = f32(np.nan_to_num(joints3d)), f32(w3)
    cams = []
    for v in views:
        cam = v.camera
        cams.append((cam, f32(cam.R), f32(cam.t), f32(cam.K)[None], f32(cam.dist)[None], f32(np.nan_to_num(v.uv)), f32(np.where(np.isfinite(v.uv).all(-1), v.conf, 0.0))))
    rest_pose = f32(relaxed_pose())
    hinge_idx = torch.as_tensor([h[0] for h in HINGES], device=dev)
    hinge_axis = torch.as_tensor([h[1] for h in HINGES], device=dev)
    hinge_sign = f32([h[2] for h in HINGES])

    def reprojections(J: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per view: pixel errors ``(T, J)`` of joints ``J`` and their weights (confidence, 0 where unseen)."""
        out = []
        for cam, R, t, K, dist, uv, conf in cams:
            px, valid = project_points(cam.model, J @ R.T + t, K, dist, fov_deg=cam.fov_deg)
            out.append(((px - uv).norm(dim=-1), conf * valid.float()))
        return out

    def terms(anneal: float = 1.0) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if silhouette is not None and silhouette.outline:
            posed = body(go, pose, betas, tr)
            J = body.joint_set(posed, joint_set)
            out["silhouette"] = cfg.weight_silhouette * cfg.pixel_scale_m**2 * silhouette(posed.vertices)
        else:
            J = body.joints_only(go, pose, betas, tr, joint_set)
        if joints3d is not None and cfg.weight_3d > 0:
            sq = ((J - X) ** 2).sum(-1)
            out["3d"] = cfg.weight_3d * (W3 * geman_mcclure(sq, cfg.robust_m * anneal)).sum() / W3.sum().clamp(min=1)
        if cams and cfg.weight_2d > 0:
            views_err = reprojections(J)
            total = sum((w * geman_mcclure(e**2, cfg.robust_px * anneal)).sum() for e, w in views_err)
            norm = sum(float(w.sum()) for _, w in views_err)
            out["2d"] = cfg.weight_2d * cfg.pixel_scale_m**2 * total / max(norm, 1.0)
        out["pose"] = cfg.weight_pose * ((pose - rest_pose) ** 2).sum() / T
        out["shape"] = cfg.weight_shape * (betas**2).sum()
        bend = pose[:, hinge_idx, hinge_axis] * hinge_sign
        out["limits"] = cfg.weight_limits * (torch.relu(-bend) ** 2).sum() / T
        if T > 1:
            out["smooth_pose"] = cfg.weight_smooth_pose * (same[:, None, None] * (pose[1:] - pose[:-1]) ** 2).sum() / T
        if T > 2:
            acc = tr[2:] - 2 * tr[1:-1] + tr[:-2]
            out["smooth_transl"] = cfg.weight_smooth_transl * (same2[:, None] * acc**2).sum() / T
        if gmm is not None:
            out["gmm"] = cfg.weight_gmm * gmm(pose).sum() / T
        return out

    def solve(params: list[torch.Tensor], iterations: int, anneal: float = 1.0) -> None:
        if iterations <= 0:
            return
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-10, tolerance_change=1e-12)  # fmt: skip

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = sum(terms(anneal).values())
            loss.backward()
            return loss

        opt.step(closure)

    # the robust scale starts wide (limbs far from their keypoints still feel them) and narrows
    solve([go, tr, betas], cfg.iterations_global, ANNEAL[0])
    for k, anneal in enumerate(ANNEAL):
        solve([go, tr, betas, pose], cfg.iterations // len(ANNEAL) + (cfg.iterations % len(ANNEAL) if k == 0 else 0), anneal)
    if joints3d is not None and T > 2:
        # frames whose joints mostly miss (a failed triangulation) are dropped, refilled from their
        # neighbours in time and left to the smoothness terms
        with torch.no_grad():
            e = (body.joints_only(go, pose, betas, tr, joint_set) - X).norm(dim=-1)
            e = torch.where(W3 > 0, e, torch.full_like(e, float("nan"))).nanmedian(dim=1).values
            bad = (e > OUTLIER_FRAME * cfg.robust_m).cpu().numpy()
        if bad.any() and not bad.all():
            W3[torch.as_tensor(bad, device=dev)] = 0.0
            with torch.no_grad():
                for v in (go, tr, pose):
                    flat = v.detach().cpu().double().numpy().reshape(T, -1)
                    flat[bad] = np.nan
                    v.copy_(f32(fill_gaps(flat)).reshape(v.shape))
            solve([go, tr, betas, pose], max(cfg.iterations // len(ANNEAL), 1), ANNEAL[-1])
    if silhouette is not None:
        for _ in range(cfg.silhouette_rounds):
            with torch.no_grad():
                silhouette.select(body(go, pose, betas, tr).vertices)
            solve([go, tr, betas, pose], cfg.silhouette_iterations)
    with torch.no_grad():
        J = body.joints_only(go, pose, betas, tr, joint_set)
        err3 = np.full(T, np.nan)
        if joints3d is not None:  # against every observed joint, dropped frames included
            W0 = f32(w3)
            e = (J - X).norm(dim=-1)
            err3 = ((e * W0).sum(1) / W0.sum(1).clamp(min=1e-9)).cpu().numpy()
            err3[w3.sum(1) == 0] = np.nan
        err2 = np.full(T, np.nan)
        if cams:
            views_err = reprojections(J)
            num = sum((w * e).sum(1) for e, w in views_err)
            den = sum(w.sum(1) for _, w in views_err)
            err2 = torch.where(den > 0, num / den.clamp(min=1e-9), torch.full_like(num, float("nan"))).cpu().numpy()
        final = {k: float(v) for k, v in terms().items()}
    return {
        "global_orient": go.detach().cpu().double().numpy(),
        "body_pose": pose.detach().cpu().double().numpy(),
        "betas": betas.detach().cpu().double().numpy()[0],
        "transl": tr.detach().cpu().double().numpy(),
        "joints": J.cpu().double().numpy(),
        "error_3d_m": err3,
        "error_2d_px": err2,
        "objective": final,
    }
