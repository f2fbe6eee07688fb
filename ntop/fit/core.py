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
otherwise sit where Geman-McClure is flat). Refined against masks, the fit may also learn personal
offsets: one displacement per vertex along the rest surface's normal, smooth over the mesh, for what
ten shape coefficients cannot say (a cap, hair, a muscular build); joints ignore them.
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
from ntop.raster import vertex_normals
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
    weight_silhouette: float = 5.0  # per squared pixel (the 2D term weighs 1): used when masks are given
    silhouette_sigma_px: float = 4.0  # Geman-McClure scale of the silhouette term
    refine_weight_2d: float = 1.0  # refining a multi-view fit against masks: the detections hold the joints
    personal_offsets: bool = True  # refining a multi-view fit: also fit per-vertex offsets along the normals
    weight_offsets: float = 1e-2  # per squared metre of offset (mean over vertices)
    weight_smooth_offsets: float = 1.0  # per squared metre of an offset's difference from its neighbours' mean
    # refining a multi-view fit: the detector's keypoints are not the model's joints (a hip, an ear sits
    # elsewhere); one rest-pose offset per keypoint, turned by its bones, maps one to the other
    keypoint_offsets: bool = True
    weight_keypoint_offsets: float = 0.1  # per squared metre (mean over keypoints)
    silhouette_rounds: int = 3  # the body's outline is found again before each round
    silhouette_iterations: int = 60  # L-BFGS iterations per round
    monocular_anchor: float = 1.0  # refining a monocular fit: weight of its own 3D joints (the 3D term's scale)
    monocular_weight_silhouette: float = 50.0  # ... and of its silhouette term (one outline is its only cue of girth)
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
            raise NtopError(
                f"expected means (K, 69), covars (K, 69, 69), weights (K,); got {means.shape}, {covars.shape}, {weights.shape}",
                path,
            )
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


def kabsch_init(
    body: BodyModel, joints: np.ndarray, joint_set: str, betas: torch.Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
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


class _Problem:
    """One fit as tensors on one device: the data (3D joints, 2D views), the priors and the unknowns
    (``go``, ``tr``, ``pose``, ``betas``); :meth:`terms` is the objective."""

    def __init__(
        self,
        body: BodyModel,
        joint_set: str,
        cfg: FitConfig,
        joints3d: np.ndarray | None,
        weights3d: np.ndarray | None,
        views: list[View2D],
        segments: np.ndarray | None,
        init: dict[str, np.ndarray],
        silhouette: SilhouetteTerm | None,
    ) -> None:
        self.dev = dev = resolve_device(cfg.device, "fit.device")
        self.body, self.joint_set, self.cfg, self.silhouette = body.to(dev), joint_set, cfg, silhouette
        self.T = T = len(joints3d) if joints3d is not None else len(views[0].uv)
        seg = torch.as_tensor(np.zeros(T) if segments is None else segments, device=dev)
        self.same = (seg[1:] == seg[:-1]).float()  # no smoothness across actions
        self.same2 = self.same[1:] * self.same[:-1]
        self.go = self.f32(init["global_orient"]).clone().requires_grad_(True)
        self.tr = self.f32(init["transl"]).clone().requires_grad_(True)
        self.pose = self.f32(init.get("body_pose", np.zeros((T, 23, 3)))).reshape(T, 23, 3).clone().requires_grad_(True)
        self.betas = (
            self.f32(init.get("betas", np.zeros(body.num_betas))).reshape(1, -1)[:, : body.num_betas].clone().requires_grad_(True)
        )
        self.gmm = GMMPrior(cfg.gmm_prior).to(dev) if cfg.gmm_prior else None
        self.offsets = (
            torch.zeros(body.num_vertices, device=dev, requires_grad=True) if silhouette and cfg.personal_offsets else None
        )
        if self.offsets is not None:
            self._neighbours()
        self.keypoint_offsets = None
        if silhouette and cfg.keypoint_offsets and joints3d is not None and views:
            self.keypoint_offsets = torch.zeros(len(JOINT_SETS[joint_set]), 3, device=dev, requires_grad=True)
            self.keypoint_weights = self.body.joint_weights(joint_set)  # once: the objective runs thousands of times
        self.joints3d = joints3d
        if joints3d is not None:
            self.w3 = np.where(np.isfinite(joints3d).all(-1), 1.0 if weights3d is None else weights3d, 0.0)
            self.X, self.W3 = self.f32(np.nan_to_num(joints3d)), self.f32(self.w3)
        self.cams = [self._view(v) for v in views]
        self.rest_pose = self.f32(relaxed_pose())
        self.hinge_idx = torch.as_tensor([h[0] for h in HINGES], device=dev)
        self.hinge_axis = torch.as_tensor([h[1] for h in HINGES], device=dev)
        self.hinge_sign = self.f32([h[2] for h in HINGES])

    def _view(
        self, v: View2D
    ) -> tuple[Camera, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A view as tensors: camera, R, t, K, dist, keypoints and their weights (0 where unseen)."""
        cam = v.camera
        weights = np.where(np.isfinite(v.uv).all(-1), v.conf, 0.0)
        return (
            cam,
            self.f32(cam.R),
            self.f32(cam.t),
            self.f32(cam.K)[None],
            self.f32(cam.dist)[None],
            self.f32(np.nan_to_num(v.uv)),
            self.f32(weights),
        )

    def f32(self, a: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.dev)

    @property
    def unknowns(self) -> list[torch.Tensor]:
        extra = [v for v in (self.offsets, self.keypoint_offsets) if v is not None]
        return [self.go, self.tr, self.betas, self.pose] + extra

    def _neighbours(self) -> None:
        """The mesh's edges ``(E, 2)`` and each vertex's number of neighbours, for the offsets' smoothness."""
        faces = self.body.faces
        edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).sort(1).values.unique(dim=0)
        self.edges = edges
        self.degree = torch.zeros(self.body.num_vertices, device=self.dev).index_add_(
            0, edges.reshape(-1), torch.ones(edges.numel(), device=self.dev)
        )

    def offset_vectors(self) -> torch.Tensor | None:
        """Personal offsets ``(V, 3)``: each vertex's displacement along the shaped rest surface's normal."""
        if self.offsets is None:
            return None
        normals = vertex_normals(self.body.shaped(self.betas)[0], self.body.faces)[0]
        return self.offsets[:, None] * normals

    def posed(self) -> Any:
        return self.body(self.go, self.pose, self.betas, self.tr, self.offset_vectors())

    def _offset_terms(self) -> dict[str, torch.Tensor]:
        D, (a, b) = self.offsets, self.edges.T
        neighbours = (torch.zeros_like(D).index_add_(0, a, D[b]).index_add_(0, b, D[a])) / self.degree.clamp(min=1)
        return {
            "offsets": self.cfg.weight_offsets * (D**2).mean(),
            "smooth_offsets": self.cfg.weight_smooth_offsets * ((D - neighbours) ** 2).mean(),
        }

    def joints(self) -> torch.Tensor:
        return self.body.joints_only(self.go, self.pose, self.betas, self.tr, self.joint_set)

    def detected(self, J: torch.Tensor) -> torch.Tensor:
        """Joints ``J`` where the detector puts them: moved by the keypoint offsets, when they are fitted."""
        if self.keypoint_offsets is None:
            return J
        return J + self.body.turned_offsets(self.go, self.pose, self.keypoint_offsets, self.keypoint_weights)

    def reprojections(self, J: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per view: pixel errors ``(T, J)`` of joints ``J`` and their weights (confidence, 0 where unseen)."""
        out = []
        for cam, R, t, K, dist, uv, conf in self.cams:
            px, valid = project_points(cam.model, J @ R.T + t, K, dist, fov_deg=cam.fov_deg)
            out.append(((px - uv).norm(dim=-1), conf * valid.float()))
        return out

    def terms(self, anneal: float = 1.0) -> dict[str, torch.Tensor]:
        cfg, T, pose = self.cfg, self.T, self.pose
        out: dict[str, torch.Tensor] = {}
        if self.silhouette is not None and self.silhouette.outline:
            posed = self.posed()
            J = self.body.joint_set(posed, self.joint_set)
            out["silhouette"] = cfg.weight_silhouette * cfg.pixel_scale_m**2 * self.silhouette(posed.vertices)
            if self.offsets is not None:
                out.update(self._offset_terms())
        else:
            J = self.joints()
        if self.keypoint_offsets is not None:
            J = self.detected(J)
            out["keypoint_offsets"] = cfg.weight_keypoint_offsets * (self.keypoint_offsets**2).sum(-1).mean()
        if self.joints3d is not None and cfg.weight_3d > 0:
            sq = ((J - self.X) ** 2).sum(-1)
            out["3d"] = cfg.weight_3d * (self.W3 * geman_mcclure(sq, cfg.robust_m * anneal)).sum() / self.W3.sum().clamp(min=1)
        if self.cams and cfg.weight_2d > 0:
            views_err = self.reprojections(J)
            total = sum((w * geman_mcclure(e**2, cfg.robust_px * anneal)).sum() for e, w in views_err)
            norm = sum(float(w.sum()) for _, w in views_err)
            out["2d"] = cfg.weight_2d * cfg.pixel_scale_m**2 * total / max(norm, 1.0)
        out["pose"] = cfg.weight_pose * ((pose - self.rest_pose) ** 2).sum() / T
        out["shape"] = cfg.weight_shape * (self.betas**2).sum()
        bend = pose[:, self.hinge_idx, self.hinge_axis] * self.hinge_sign
        out["limits"] = cfg.weight_limits * (torch.relu(-bend) ** 2).sum() / T
        if T > 1:
            out["smooth_pose"] = cfg.weight_smooth_pose * (self.same[:, None, None] * (pose[1:] - pose[:-1]) ** 2).sum() / T
        if T > 2:
            acc = self.tr[2:] - 2 * self.tr[1:-1] + self.tr[:-2]
            out["smooth_transl"] = cfg.weight_smooth_transl * (self.same2[:, None] * acc**2).sum() / T
        if self.gmm is not None:
            out["gmm"] = cfg.weight_gmm * self.gmm(pose).sum() / T
        return out

    def solve(self, params: list[torch.Tensor], iterations: int, anneal: float = 1.0) -> None:
        if iterations <= 0:
            return
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=iterations,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-10,
            tolerance_change=1e-12,
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = sum(self.terms(anneal).values())
            loss.backward()
            return loss

        opt.step(closure)

    def refit_without_outlier_frames(self) -> None:
        """Frames whose joints mostly miss (a failed triangulation) are dropped, refilled from their
        neighbours in time and left to the smoothness terms."""
        with torch.no_grad():
            e = (self.joints() - self.X).norm(dim=-1)
            e = torch.where(self.W3 > 0, e, torch.full_like(e, float("nan"))).nanmedian(dim=1).values
            bad = (e > OUTLIER_FRAME * self.cfg.robust_m).cpu().numpy()
        if not bad.any() or bad.all():
            return
        self.W3[torch.as_tensor(bad, device=self.dev)] = 0.0
        with torch.no_grad():
            for v in (self.go, self.tr, self.pose):
                flat = v.detach().cpu().double().numpy().reshape(self.T, -1)
                flat[bad] = np.nan
                v.copy_(self.f32(fill_gaps(flat)).reshape(v.shape))
        self.solve(self.unknowns, max(self.cfg.iterations // len(ANNEAL), 1), ANNEAL[-1])

    def residuals(self, J: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: mean 3D error against every observed joint (dropped frames included) and mean
        confidence-weighted pixel error; NaN where unused."""
        err3 = np.full(self.T, np.nan)
        if self.joints3d is not None:
            W0 = self.f32(self.w3)
            e = (J - self.X).norm(dim=-1)
            err3 = ((e * W0).sum(1) / W0.sum(1).clamp(min=1e-9)).cpu().numpy()
            err3[self.w3.sum(1) == 0] = np.nan
        err2 = np.full(self.T, np.nan)
        if self.cams:
            views_err = self.reprojections(J)
            num = sum((w * e).sum(1) for e, w in views_err)
            den = sum(w.sum(1) for _, w in views_err)
            err2 = torch.where(den > 0, num / den.clamp(min=1e-9), torch.full_like(num, float("nan"))).cpu().numpy()
        return err3, err2


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
    round finds the body's outline again). Returns SMPL parameters, personal ``offsets (V, 3)`` and
    ``keypoint_offsets (J, 3)`` (None unless fitted) and per-frame residuals (``error_3d_m``,
    ``error_2d_px``; NaN where unused; against the keypoints as the detector defines them)."""
    if joints3d is None and not views:
        raise NtopError("nothing to fit: give 3D joints or 2D views", field="keypoints")
    if init is None:
        if joints3d is None:
            raise NtopError("a fit to 2D views alone needs a starting body (init)", field="keypoints")
        go0, tr0 = kabsch_init(body, joints3d, joint_set)
        init = {"global_orient": go0, "transl": tr0}
    fit = _Problem(body, joint_set, cfg, joints3d, weights3d, views, segments, init, silhouette)
    # the robust scale starts wide (limbs far from their keypoints still feel them) and narrows
    fit.solve([fit.go, fit.tr, fit.betas], cfg.iterations_global, ANNEAL[0])
    for k, anneal in enumerate(ANNEAL):
        fit.solve(fit.unknowns, cfg.iterations // len(ANNEAL) + (cfg.iterations % len(ANNEAL) if k == 0 else 0), anneal)
    if joints3d is not None and fit.T > 2:
        fit.refit_without_outlier_frames()
    if silhouette is not None:
        for _ in range(cfg.silhouette_rounds):
            with torch.no_grad():
                silhouette.select(fit.posed().vertices)
            fit.solve(fit.unknowns, cfg.silhouette_iterations)
    with torch.no_grad():
        J = fit.joints()
        err3, err2 = fit.residuals(fit.detected(J))
        final = {k: float(v) for k, v in fit.terms().items()}
    params = {
        k: v.detach().cpu().double().numpy() for k, v in (("global_orient", fit.go), ("body_pose", fit.pose), ("transl", fit.tr))
    }
    betas = fit.betas.detach().cpu().double().numpy()[0]
    offsets = fit.offset_vectors()
    return {
        **params,
        "betas": betas,
        "offsets": None if offsets is None else offsets.detach().cpu().double().numpy(),
        "keypoint_offsets": None if fit.keypoint_offsets is None else fit.keypoint_offsets.detach().cpu().double().numpy(),
        "joints": J.cpu().double().numpy(),
        "error_3d_m": err3,
        "error_2d_px": err2,
        "objective": final,
    }
