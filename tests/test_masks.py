"""Masks: the colour test, the background model, boundary snapping, SMPL refinement, and the stages."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest

from ntop.body.joints import SMPL_JOINTS
from ntop.datasets.ingest import ingest
from ntop.datasets.synthetic.capture import SyntheticConfig, generate
from ntop.errors import NtopError
from ntop.masks import MasksConfig, model_backgrounds, read_masks, segment
from ntop.masks.background import (
    Background,
    BgsubConfig,
    body_region,
    clean_mask,
    dilate,
    estimate_background,
    frame_statistics,
    segment_frame,
    snap_boundary,
)
from ntop.masks.prior import LOWER_LEGS, shadowless_faces
from ntop.masks.refine import outline_agreement, refine
from ntop.masks.stage import _prior_is_exact
from ntop.qa.masks import check_masks

H = W = 128


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _scene(rng: np.random.Generator) -> np.ndarray:
    """A textured background: tiles of colour and a gradient."""
    y, x = np.mgrid[:H, :W]
    tiles = ((x // 16 + y // 16) % 2)[..., None] * np.array([40, 20, 0]) + np.array([120, 110, 90])
    return np.clip(tiles + 0.3 * y[..., None] + rng.normal(0, 1, (H, W, 3)), 0, 255)


def _frame(bg: np.ndarray, person: np.ndarray, rng: np.random.Generator, gain: float = 1.0, shadow: np.ndarray | None = None) -> np.ndarray:
    img = bg.copy()
    if shadow is not None:
        img[shadow] *= 0.65  # a soft shadow darkens without changing the colour
    img[person] = [30, 160, 200]
    return np.clip(img * gain + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_colour_test_ignores_noise_flicker_and_shadows():
    rng = np.random.default_rng(0)
    scene = _scene(rng)
    bg = Background(np.clip(scene, 0, 255).astype(np.uint8), np.ones((H, W), bool))
    person, shadow = _box(30, 100, 50, 75), _box(95, 120, 30, 110)
    cfg = BgsubConfig()
    for gain in (0.9, 1.0, 1.12):
        frame = _frame(scene, person, rng, gain, shadow & ~person)
        g, sigma = frame_statistics(frame, bg)
        assert abs(g - gain) < 0.03 and 1.0 < sigma < 4.0
        assert _iou(segment_frame(frame, bg, cfg, person), person) > 0.99
        assert _iou(segment_frame(frame, bg, cfg, None), person) > 0.99  # no body: the whole frame, the largest component


def test_a_part_that_looks_like_shadow_is_person_where_no_shadow_can_be_behind_it():
    rng = np.random.default_rng(3)
    scene = _scene(rng)
    bg = Background(np.clip(scene, 0, 255).astype(np.uint8), np.ones((H, W), bool))
    torso, hand, shadow = _box(30, 90, 50, 75), _box(60, 70, 75, 85), _box(92, 110, 30, 110)
    frame = _frame(scene, torso, rng, shadow=shadow)
    frame[hand] = np.clip(0.7 * scene[hand], 0, 255).astype(np.uint8)  # the floor's colour, darker: a shadow to the test
    body = torso | hand | _box(88, 100, 55, 70)  # the prior: torso, hand and a foot standing in the shadow
    assert not segment_frame(frame, bg, BgsubConfig(), body, shadowless=torso | hand)[hand].any()  # shadows anywhere
    seen = segment_frame(frame, bg, BgsubConfig(underfoot_shadows_only=True), body, shadowless=torso | hand)
    assert seen[hand].mean() > 0.95 and _iou(seen, torso | hand) > 0.99  # the shadow round the foot stays background


def test_the_shadowless_part_of_the_body_is_all_but_its_lower_legs(body):
    faces = shadowless_faces(body)
    parts = {SMPL_JOINTS[j] for j in body.smpl.lbs_weights.argmax(1)[faces.unique()].tolist()}
    assert {"head", "left_hand", "right_hand", "left_hip"} <= parts and not parts & set(LOWER_LEGS)
    assert 0.5 < len(faces) / len(body.faces) < 0.95


def test_the_body_region_is_the_grown_box_clipped_to_the_image():
    roi = body_region(_box(10, 50, 100, 120), 0.1)
    assert roi == (slice(0, 63), slice(87, 128))
    assert body_region(None, 0.1) == (slice(None), slice(None))


def test_components_away_from_the_body_are_dropped_and_small_holes_filled():
    cfg = BgsubConfig()
    fg = _box(20, 100, 40, 70) | _box(10, 20, 100, 120)
    fg[50:52, 50:52] = False  # a 4-pixel hole
    out = clean_mask(fg, _box(25, 95, 45, 65), cfg)
    assert out[50, 50] and not out[15, 110]
    assert clean_mask(fg, None, cfg)[60, 60] and not clean_mask(fg, None, cfg)[15, 110]  # no prior: the largest one


def test_background_median_excludes_the_body_and_inpaints_what_is_never_seen():
    rng = np.random.default_rng(1)
    scene = _scene(rng)
    standing, walking = _box(40, 90, 20, 40), [_box(40, 90, 60 + 5 * t, 80 + 5 * t) for t in range(6)]
    people = [standing | w for w in walking]
    frames = np.stack([_frame(scene, p, rng) for p in people])
    bg = estimate_background(frames, np.stack(people))
    seen = ~np.all(people, 0)
    assert np.abs(bg.image[seen].astype(float) - scene[seen]).mean() < 2.5  # the walker never burns in
    assert not bg.known[standing].any() and bg.known[~standing].all()
    plain = np.median(frames, 0)
    assert np.abs(plain[walking[2]] - scene[walking[2]]).mean() < np.abs(plain[standing] - scene[standing]).mean()


def test_boundary_snap_puts_a_blurred_edge_at_half_coverage():
    scene = np.full((H, W, 3), 200.0)
    person = _box(30, 90, 40, 80)
    sharp = np.where(person[..., None], [20.0, 60.0, 150.0], scene)
    blurred = cv2.blur(sharp, (3, 3)).astype(np.uint8)  # one pixel of mixing on each side
    bg = Background(scene.astype(np.uint8), np.ones((H, W), bool))
    grown = cv2.dilate(person.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # the halo a fixed threshold leaves
    assert _iou(snap_boundary(blurred, bg.planes, 1.0, grown), person) > 0.99


def test_refine_follows_the_image_where_a_fitted_body_and_the_colour_test_are_wrong():
    rng = np.random.default_rng(1)
    person = _box(30, 100, 50, 80)
    shadow = _box(100, 120, 20, 110)
    frame = _frame(_scene(rng), person, rng, shadow=shadow)
    prior = np.roll(person, 6, axis=1)  # a fitted body, six pixels off: its core covers the wall
    evidence = person | _box(60, 72, 40, 50)  # and a patch of wall the background model got wrong
    evidence[50:60, 60:70] = False  # the colour test lost part of the person
    evidence |= shadow  # a shadow attached to the feet
    margin, core = 0.06, 0.015
    out = refine(frame, prior, evidence, margin, core)
    taken_as_they_are = (evidence & dilate(prior, margin)) | ~dilate(~prior, core)
    assert _iou(out, person) > 0.97 > 0.85 > _iou(taken_as_they_are, person)
    assert out[55, 65] and not out[65, 45] and not out[50, 84] and not out[115, 25]


def test_a_prior_on_the_images_outline_is_exact_and_keeps_its_edge_pixels():
    person = _box(30, 100, 50, 80)
    evidence = _box(31, 99, 51, 79)  # a colour test that lost the mixed boundary pixels
    cfg = MasksConfig(method=["bgsub", "smpl_refine"])
    exact, _ = _prior_is_exact(2, lambda c, picks: ([person] * len(picks),) * 2, lambda c, t, prior, part: evidence, 10, cfg)
    shifted = np.roll(person, 3, axis=1)  # a fitted body, three pixels off
    fitted, _ = _prior_is_exact(2, lambda c, picks: ([shifted] * len(picks),) * 2, lambda c, t, prior, part: evidence, 10, cfg)
    assert exact and not fitted
    kept = refine(None, person, evidence, margin=0.04, core=0.015, exact_prior=True)
    assert _iou(kept, person) > 0.99 > _iou(evidence, person)  # corners: sqrt(2) px
    assert outline_agreement(person, evidence) > 0.95 > 0.5 > outline_agreement(shifted, evidence)  # all but the corners


def test_grabcut_refine_recovers_a_person_bigger_than_the_prior():
    rng = np.random.default_rng(2)
    person = _box(30, 100, 45, 85)
    frame = _frame(_scene(rng), person, rng)
    prior = _box(35, 95, 50, 80)  # a body model thinner than the clothed person
    out = refine(frame, prior, None, margin=0.06, core=0.015)
    assert _iou(out, person) > 0.95 > _iou(prior, person)


@pytest.fixture(scope="module")
def capture(body, tmp_path_factory):
    root = tmp_path_factory.mktemp("masks")
    cfg = SyntheticConfig(num_frames=10, num_cameras=2, width=128, height=128, seed=3, format="images")
    for action in ("walk", "wave"):
        generate(body, "s", action, cfg, root / "raw" / action)
        ingest("synthetic", root / "raw" / action, "s", action, root / f"{action}.capture.h5", root / f"{action}.frames.h5")
    return root


def test_segment_stage_bgsub_smpl_refine_against_ground_truth(body, capture):
    cfg = MasksConfig()
    pairs = [(capture / f"{a}.capture.h5", capture / f"{a}.frames.h5") for a in ("walk", "wave")]
    summary = model_backgrounds(body, pairs, capture / "bg.h5", cfg)
    assert summary["cameras"] == 2 and summary["unknown_fraction"] < 0.05
    out = capture / "walk.masks.h5"
    summary = segment(body, *pairs[0], out, cfg, background=capture / "bg.h5", preview=capture / "walk.png", threads=2)
    assert summary["frames"] == 10 and summary["iou_with_smpl"] > 0.8 and summary["exact_prior"]  # the capture's true bodies
    report, _ = check_masks(out, pairs[0][0])
    assert report["masks"]["mean_iou"] > 0.9 and report["smpl_prior"]["mean_iou"] == 1.0  # the capture's own bodies
    with h5py.File(out) as f:
        assert f.attrs["schema"] == "masks" and f["masks/cam00"].shape == (10, 128, 128) and f["masks/cam00"].compression == "gzip"
    assert read_masks(out, "cam01").dtype == bool
    assert cv2.imread(str(capture / "walk.png")) is not None


def test_provided_masks_and_given_backgrounds(body, capture, tmp_path):
    pair = (capture / "walk.capture.h5", capture / "walk.frames.h5")
    segment(body, *pair, tmp_path / "m.h5", MasksConfig(method=["provided"]))
    assert check_masks(tmp_path / "m.h5", pair[0])[0]["masks"]["min_iou"] == 1.0
    with h5py.File(capture / "bg.h5") as f:
        for cam in ("cam00", "cam01"):
            cv2.imwrite(str(tmp_path / f"{cam}.png"), f[f"images/{cam}"][()][..., ::-1])
    cfg = MasksConfig(background_dir=str(tmp_path))
    model_backgrounds(body, [pair], tmp_path / "bg.h5", cfg)
    with h5py.File(tmp_path / "bg.h5") as f, h5py.File(capture / "bg.h5") as g:
        assert np.array_equal(f["images/cam01"][()], g["images/cam01"][()])


def test_mask_settings_and_inputs_fail_with_the_field_named(body, capture, tmp_path):
    with pytest.raises(NtopError, match="method"):
        MasksConfig.from_dict({"method": ["smpl_refine", "bgsub"]})
    with pytest.raises(NtopError, match="masks.bgsub"):
        MasksConfig.from_dict({"bgsub": {"chroma": 3}})
    pair = (capture / "walk.capture.h5", capture / "walk.frames.h5")
    with pytest.raises(NtopError, match="background file"):
        segment(body, *pair, tmp_path / "m.h5", MasksConfig())
    with pytest.raises(NtopError, match="no background image for camera cam00"):
        model_backgrounds(body, [pair], tmp_path / "bg.h5", MasksConfig(background_dir=str(tmp_path)))
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "bg.h5").exists()


def test_selfie_segmentation_and_bgsub_in_the_segment_stage(body, capture, tmp_path):
    pairs = [(capture / f"{a}.capture.h5", capture / f"{a}.frames.h5") for a in ("walk", "wave")]
    cfg = MasksConfig.from_dict({"method": ["bgsub", "selfie", "smpl_refine"]})
    model_backgrounds(body, pairs, tmp_path / "bg.h5", cfg)
    summary = segment(body, *pairs[0], tmp_path / "m.h5", cfg, background=tmp_path / "bg.h5", threads=2)
    assert summary["method"] == ["bgsub", "selfie", "smpl_refine"]
    assert check_masks(tmp_path / "m.h5", pairs[0][0])[0]["masks"]["mean_iou"] > 0.85  # a synthetic mannequin, 128 pixels
    with pytest.raises(NtopError, match="bgsub, selfie or bgsub \\+ selfie, then smpl_refine if wanted"):
        MasksConfig.from_dict({"method": ["selfie", "bgsub"]})


def test_selfie_says_where_a_person_is_and_fuse_trusts_it_or_the_colour_test():
    from ntop.datasets.pose2sim import trial_source
    from ntop.io import read_frames
    from ntop.masks.selfie import SelfieSegmenter, fuse

    rgb = next(iter(read_frames(trial_source("Demo_SinglePerson") / "videos" / "cam01.mp4", [50])))[1]
    prior = np.zeros(rgb.shape[:2], bool)
    prior[450:1250, 150:800] = True  # roughly where he stands in this frame
    p = SelfieSegmenter().probability(rgb, prior)
    assert p.shape == prior.shape and p[700:900, 380:480].mean() > 0.8  # his trunk
    assert p[:, 1000:].max() < 0.05 and p[1600:].max() < 0.05  # outside the crop: nothing
    person, changed = np.array([0.9, 0.5, 0.5, 0.1]), np.array([False, True, False, True])
    assert fuse(person, changed).tolist() == [True, True, False, False]
    assert fuse(person, None).tolist() == [True, True, True, False]


def test_the_selfie_crop_box_is_the_box_of_the_dilated_prior():
    from ntop.masks.selfie import _grown_box

    rng = np.random.default_rng(0)
    for margin in (0.0, 0.01, 0.013, 0.04):  # odd and even kernels, and none
        for _ in range(40):
            m = np.zeros((rng.integers(50, 200), rng.integers(50, 200)), bool)
            y, x = rng.integers(0, m.shape[0]), rng.integers(0, m.shape[1])
            m[y : y + rng.integers(1, 40), x : x + rng.integers(1, 40)] = True
            ys, xs = np.nonzero(dilate(m, margin))
            assert _grown_box(m, margin) == (xs.min(), ys.min(), xs.max(), ys.max())
