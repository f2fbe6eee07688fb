"""Monocular SMPL fitting accuracy on every synthetic motion, and where its error comes from.

    python benchmarks/monocular.py [--motions walk,wave,squat,turn] [--cameras 0,3] [--threads 2]
                                   [--gmm gmm_08.pkl --weight-gmm 1e-4]

Each motion is seen by demo cameras (``SyntheticConfig``'s ring: 256 px, 56 degrees), its COCO-17
joints projected and made detector-like exactly as the workflow's ``provided`` backend does (2 px
noise, 10 % outliers 20-80 px away, 2 % dropouts). The fit is ``fit_monocular`` with the shipped
priors. The peer, in the same run, is the same objective started from the true bodies: where it
ends as far from the truth as the fit does, or at an objective no lower, the error is the depth
ambiguity of one view (the priors choose each limb's depth), not the optimiser.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ntop.body import BodyModel
from ntop.body.procedural import cached_path
from ntop.datasets.synthetic.capture import SyntheticConfig, make_cameras, pose_sequence
from ntop.fit.core import FitConfig, View2D, fit_bodies
from ntop.fit.monocular import fit_monocular, monocular_config
from ntop.keypoints.detect import DetectConfig, emulate_detector
from ntop.qa.fit import pa_errors

SMPL = ("global_orient", "body_pose", "betas", "transl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--motions", default="walk,wave,squat,turn")
    ap.add_argument("--cameras", default="0,3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gmm", default=None, help="SMPLify's gmm_08.pkl, to measure the fit with a learned pose prior")
    ap.add_argument("--weight-gmm", type=float, default=FitConfig.weight_gmm)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    body = BodyModel.from_file(cached_path())
    syn = SyntheticConfig()
    cams = make_cameras(syn)
    cfg = FitConfig(gmm_prior=a.gmm, weight_gmm=a.weight_gmm)
    f = lambda v: torch.as_tensor(np.asarray(v), dtype=torch.float32)  # noqa: E731

    def joints(p: dict[str, np.ndarray], joint_set: str) -> np.ndarray:
        with torch.no_grad():
            return body.joints_only(f(p["global_orient"]), f(p["body_pose"]), f(p["betas"])[None], f(p["transl"]), joint_set).double().numpy()

    print(f"monocular fit, {syn.width} px cameras, detector-like COCO-17 keypoints, {a.threads} threads" + (f", GMM prior {a.gmm}" if a.gmm else ""))
    print(f"{'motion':8s} {'camera':>6s} {'PA-MPJPE mm':>11s} {'objective':>10s} {'seconds':>8s}   {'from the truth: PA mm':>21s} {'objective':>10s}")
    rows = []
    for motion in a.motions.split(","):
        truth = pose_sequence(body, motion, syn)
        coco, smpl24 = joints(truth, "coco17"), joints(truth, "smpl24")
        for c in (int(c) for c in a.cameras.split(",")):
            uv, seen = cams[c].project(coco.reshape(-1, 3))
            uv, seen = uv.reshape(*coco.shape[:2], 2), seen.reshape(coco.shape[:2])
            noisy, conf, _ = emulate_detector(uv, seen, DetectConfig(), np.random.default_rng(c))
            view = View2D(cams[c], noisy, conf)
            t0 = time.perf_counter()
            fit = fit_monocular(body, view, "coco17", cfg, up=np.array([0.0, 0.0, 1.0]))
            seconds = time.perf_counter() - t0
            peer = fit_bodies(body, "coco17", monocular_config(cfg), views=[view], init={k: truth[k] for k in SMPL})
            pa = [float(pa_errors(joints(r, "smpl24"), smpl24).mean() * 1000) for r in (fit, peer)]
            obj = [sum(r["objective"].values()) for r in (fit, peer)]
            rows.append(pa)
            print(f"{motion:8s} {'cam%02d' % c:>6s} {pa[0]:11.1f} {obj[0]:10.5f} {seconds:8.1f}   {pa[1]:21.1f} {obj[1]:10.5f}")
    mean = np.mean(rows, 0)
    print(f"mean PA-MPJPE: fit {mean[0]:.1f} mm, started from the truth {mean[1]:.1f} mm (ratio {mean[0] / mean[1]:.2f})")


if __name__ == "__main__":
    main()
