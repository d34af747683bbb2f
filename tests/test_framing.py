"""Subject anchoring (core/framing.py): an orbit around a subject transferred onto a target whose subject
sits off the start view's centre keeps that subject where the reference's was in the frame, keeps Pi per
frame, and turns each rotation by the least angle that does it."""

import json

import numpy as np
import pytest
from parascale.core.cli import main
from parascale.core.depth import BoundsDepth, PointsDepth, Views, frustum_depths
from parascale.core.formats import read_trajectory, write_trajectory
from parascale.core.framing import SubjectError, minimal_rotations, subject_anchor
from parascale.core.parallax import transfer
from parascale.core.poses import Intrinsics, Trajectory, look_at, rotation_angle

TOLERANCE = 1e-9
SUBJECT = np.array([0.0, 0.0, 1.0])
# The desk: the start camera looks at the desk's centre; the subject (a cup) sits off to the side of it.
DESK_CENTRE = np.array([0.0, 0.0, 0.02])
CUP = np.array([0.09, 0.05, 0.04])
START = np.array([0.35, -0.45, 0.2])


def orbit(n: int = 40) -> Trajectory:
    """A quarter orbit round a statue at SUBJECT, radius 10, rising a little, always looking at it."""
    angle = np.linspace(-0.8, 0.8, n)
    centres = np.stack([10 * np.cos(angle), 10 * np.sin(angle), 3 + 0.8 * angle], axis=1)
    return Trajectory(look_at(centres, SUBJECT), centres, lens=35.0,
                      intrinsics=Intrinsics(width=960, height=540))


def start_rotation() -> np.ndarray:
    return look_at(START, DESK_CENTRE)[0]


def desk_bounds() -> BoundsDepth:
    """The desk's bounding-box centre, off the subject: its depth along the view turns with the view."""
    return BoundsDepth(np.array([-0.05, 0.02, 0.0]))


def desk_points() -> PointsDepth:
    """A small cluster on the desk that stays in view along the whole move."""
    rng = np.random.default_rng(3)
    return PointsDepth(DESK_CENTRE + rng.normal(scale=0.03, size=(41, 3)))


def image_and_depth(trajectory: Trajectory, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel position (N, 2) and depth (N,) of a world point in every frame, through frustum_depths'
    projection (not the code under test)."""
    local = np.einsum("nji,nj->ni", trajectory.rotations, point - trajectory.centres)
    depth, _ = frustum_depths(local[:, None, :], trajectory.pixel_intrinsics(), trajectory.intrinsics.width,
                              trajectory.intrinsics.height)
    fx, fy, cx, cy = trajectory.pixel_intrinsics().T
    u = cx + fx * local[:, 0] / depth[:, 0]
    v = cy - fy * local[:, 1] / depth[:, 0]
    return np.stack([u, v], axis=1), depth[:, 0]


def framing_error(written: Trajectory, reference: Trajectory, target_point: np.ndarray) -> np.ndarray:
    target_image, _ = image_and_depth(written, target_point)
    reference_image, _ = image_and_depth(reference, SUBJECT)
    return np.linalg.norm(target_image - reference_image, axis=1) / written.intrinsics.width


@pytest.mark.parametrize("target", [desk_bounds, desk_points], ids=["bounds", "points"])
def test_orbit_keeps_an_off_centre_subject_framed_and_pi_per_frame(target):
    reference = orbit()
    probe = target()
    anchor = subject_anchor(reference, SUBJECT, CUP, probe, start_rotation(), START)
    result = transfer(reference, 10.0, probe, start_rotation(), START, tolerance=TOLERANCE, reorient=anchor)
    plain = transfer(reference, 10.0, probe, start_rotation(), START, tolerance=TOLERANCE)
    written = result.trajectory

    # Without anchoring the cup drifts well off where the statue was (it crosses that spot once); with it,
    # within 0.5% of the width at every frame (it holds to rounding: the rotation frames it exactly).
    assert np.median(framing_error(plain.trajectory, reference, CUP)) > 0.05
    error = framing_error(written, reference, CUP)
    assert error.max() < 0.005
    assert error.max() < 1e-9

    # Pi kept per frame, measured again at the written poses (with the written, anchored rotations).
    assert result.converged.all()
    depth = np.asarray(probe(Views.of(written)))
    pi = np.linalg.norm(np.diff(written.centres, axis=0), axis=1) / depth[1:]
    assert np.abs(np.log(pi / result.pi_reference)).max() < 3 * TOLERANCE
    # ... which needs the solve to measure with the anchored rotation: the untouched one sees other depths.
    untouched = written.replace(rotations=plain.trajectory.rotations)
    depth_untouched = np.asarray(probe(Views.of(untouched)))
    assert np.abs(np.log(depth_untouched / depth)).max() > 1e-3

    # The report says the same as this independent measurement.
    report = anchor.report(written)
    np.testing.assert_allclose(report.framing_error, error, atol=1e-12)
    assert result.summary().get("framing") is None  # transfer() alone does not attach it
    assert report.summary()["framing_error_max"] < 1e-9


def test_rotation_change_is_the_least_that_frames_the_subject():
    reference = orbit()
    anchor = subject_anchor(reference, SUBJECT, CUP, desk_bounds(), start_rotation(), START)
    result = transfer(reference, 10.0, desk_bounds(), start_rotation(), START, tolerance=TOLERANCE,
                      reorient=anchor)
    written = result.trajectory
    untouched = anchor.untouched
    # The angle between where the untouched view sees the cup and where the reference saw the statue: no
    # rotation that moves the one direction onto the other turns less.
    a = np.einsum("nji,nj->ni", reference.rotations, SUBJECT - reference.centres)
    b = np.einsum("nji,nj->ni", untouched, CUP - written.centres)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    least = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", a, b), -1, 1)))
    report = anchor.report(written)
    np.testing.assert_allclose(report.rotation_change_deg, least, atol=1e-6)
    assert np.median(least) > 1.0  # the cup is off-centre in the untouched move
    # Every other rotation that frames the cup the same way (a twist about the subject's direction
    # after it) turns further from the untouched rotation.
    turn = np.matmul(np.transpose(untouched, (0, 2, 1)), written.rotations)
    for phi in (0.05, -0.3, 1.0, np.pi):
        axis = a * phi
        twist = np.array([_axis_angle(v) for v in axis])
        assert np.all(np.degrees(rotation_angle(np.matmul(turn, twist))) > report.rotation_change_deg)


def _axis_angle(v: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(v)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


@pytest.mark.parametrize("given", [False, True], ids=["found-by-depth", "given"])
def test_no_rotation_change_when_the_subject_is_already_framed(given):
    """A uniform depth ratio scales the orbit about the point at the target's depth on the start's central
    ray: the untouched move already keeps that point centred, so anchoring must change nothing."""
    reference = orbit()
    rotation = look_at(START, CUP)[0]
    # The depth of the subject along the view on both sides: every step is scaled by the same ratio.
    target = BoundsDepth(CUP)
    anchor = subject_anchor(reference, SUBJECT, CUP if given else None, target, rotation, START)
    np.testing.assert_allclose(anchor.target_points[0], CUP, atol=1e-12)
    result = transfer(reference, BoundsDepth(SUBJECT), target, rotation, START, tolerance=TOLERANCE,
                      reorient=anchor)
    plain = transfer(reference, BoundsDepth(SUBJECT), target, rotation, START, tolerance=TOLERANCE)
    assert np.ptp(plain.scale) < 1e-9 * plain.scale[0]
    report = anchor.report(result.trajectory)
    # Zero, up to what the solve's tolerance moves the camera off the exactly similar orbit (~1e-9 deg).
    assert report.rotation_change_deg.max() < 1e-7
    np.testing.assert_allclose(result.trajectory.rotations, plain.trajectory.rotations, atol=1e-9)
    np.testing.assert_allclose(result.trajectory.centres, plain.trajectory.centres, atol=1e-9)
    assert report.framing_error.max() < 1e-9


def test_target_subject_found_by_depth_along_the_start_view():
    """Found by depth: on the ray through the reference subject's image position at frame 0, at the target
    depth the start pose measures, along the view axis."""
    reference = orbit()
    # An off-centre reference subject: the ray is not the central one.
    subject = SUBJECT + np.array([0.0, 1.5, 0.8])
    probe = desk_bounds()
    anchor = subject_anchor(reference, subject, None, probe, start_rotation(), START)
    found = anchor.target_points[0]
    start = Trajectory(np.repeat(start_rotation()[None], 2, axis=0), np.stack([START, START + 1e-3]), lens=35.0,
                       intrinsics=reference.intrinsics)
    image, depth = image_and_depth(start, found)
    reference_image, _ = image_and_depth(reference, subject)
    np.testing.assert_allclose(image[0], reference_image[0], atol=1e-9)
    start_depth = float(probe(Views.of(start))[0])
    np.testing.assert_allclose(depth[0], start_depth, rtol=1e-12)
    result = transfer(reference, 10.0, probe, start_rotation(), START, tolerance=TOLERANCE, reorient=anchor)
    report = anchor.report(result.trajectory)
    assert report.rotation_change_deg[0] < 1e-6  # framed as the reference's at the start already
    assert report.framing_error.max() < 1e-9
    assert report.summary()["target_subject_source"] == "found by depth along the start view"


@pytest.mark.parametrize("mode", ["global", "uncalibrated"])
def test_other_modes_keep_the_subject_framed(mode):
    reference = orbit()
    anchor = subject_anchor(reference, SUBJECT, CUP, desk_bounds(), start_rotation(), START)
    result = transfer(reference, 10.0, desk_bounds(), start_rotation(), START, mode=mode, reorient=anchor)
    assert framing_error(result.trajectory, reference, CUP).max() < 1e-9
    # The step scale is the mode's (global: the depth ratio at the anchored first view).
    assert np.ptp(result.scale) == 0


def test_minimal_rotations_map_a_onto_b_including_opposite_vectors():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    b = rng.normal(size=(50, 3))
    b[0] = -a[0]
    b[1] = a[1]
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    m = minimal_rotations(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", m, a), b, atol=1e-12)
    np.testing.assert_allclose(np.matmul(m, np.transpose(m, (0, 2, 1))), np.broadcast_to(np.eye(3), m.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)
    angle = np.arccos(np.clip(np.einsum("ni,ni->n", a, b), -1, 1))
    np.testing.assert_allclose(rotation_angle(m), angle, atol=1e-7)


@pytest.mark.parametrize("subject, target, start, match", [
    (lambda r: r.centres[5], CUP, START, "reference subject is at the reference camera's centre at frame 5"),
    (lambda r: 2 * r.centres[0] - SUBJECT, CUP, START, "reference subject is behind the reference camera"),
    (lambda r: SUBJECT, START, START, "target subject is at the target start camera's centre"),
    (lambda r: SUBJECT, 2 * START - CUP, START, "target subject is behind the target start camera"),
    (lambda r: [np.nan, 0, 0], CUP, START, "reference subject's position is not finite"),
    (lambda r: SUBJECT, [0, np.inf, 0], START, "target subject's position is not finite"),
])
def test_bad_subjects_are_refused_in_one_line(subject, target, start, match):
    reference = orbit()
    with pytest.raises(SubjectError, match=match) as caught:
        subject_anchor(reference, subject(reference), target, desk_bounds(), start_rotation(), start)
    assert "\n" not in str(caught.value)


def test_a_subject_found_by_depth_needs_a_depth_at_the_start():
    reference = orbit()
    nothing = BoundsDepth(START + 10 * (START - DESK_CENTRE))  # behind the start camera
    with pytest.raises(Exception, match="sees nothing from the target start"):
        subject_anchor(reference, SUBJECT, None, nothing, start_rotation(), START)


# ------------------------------------------------------------------------------------------ command line

@pytest.fixture
def cli_scene(tmp_path):
    """The orbit as a lossless pose file, the desk's start pose as a pose file and the desk cluster as a
    point cloud."""
    write_trajectory(tmp_path / "orbit.parascale.json", orbit())
    start = Trajectory(np.repeat(start_rotation()[None], 2, axis=0), np.stack([START, START + 1e-3]), lens=35.0,
                       intrinsics=orbit().intrinsics)
    write_trajectory(tmp_path / "start.parascale.json", start)
    np.save(tmp_path / "desk.npy", desk_points().points)
    return tmp_path


def _transfer_argv(folder, *extra):
    return ["transfer", folder / "orbit.parascale.json", "--ref-depth", "10", "--start",
            folder / "start.parascale.json", "--target-depth", folder / "desk.npy", "-o", folder / "out.parascale.json",
            *extra]


def test_cli_keeps_the_subject_framed_and_reports_it(cli_scene, capsys):
    code = main([str(a) for a in _transfer_argv(cli_scene, "--reference-subject", "0,0,1", "--subject",
                                                 ",".join(map(str, CUP)), "--json")])
    out = capsys.readouterr().out
    assert code == 0
    framing = json.loads(out)["framing"]
    written = read_trajectory(cli_scene / "out.parascale.json")
    error = framing_error(written, orbit(), CUP)
    assert error.max() < 0.005
    np.testing.assert_allclose(framing["framing_error"], error, atol=1e-9)
    assert len(framing["rotation_change_deg"]) == len(written)
    assert framing["rotation_change_max_deg"] > 1.0
    assert framing["target_subject"] == pytest.approx(CUP.tolist())
    # Pi per frame kept against the cloud, measured at the written poses.
    depth = desk_points()(Views.of(written))
    pi = np.linalg.norm(np.diff(written.centres, axis=0), axis=1) / depth[1:]
    reference = orbit()
    pi_reference = np.linalg.norm(np.diff(reference.centres, axis=0), axis=1) / 10.0
    assert np.abs(np.log(pi / pi_reference)).max() < 1e-8


def test_cli_text_names_the_subject_found_by_depth(cli_scene, capsys):
    code = main([str(a) for a in _transfer_argv(cli_scene, "--reference-subject", "0,0,1")])
    out = capsys.readouterr().out
    assert code == 0
    assert "subject kept framed: framing error at most" in out
    assert "found by depth along the start view" in out


def _point(p) -> str:
    return ",".join(repr(float(v)) for v in p)


@pytest.mark.parametrize("extra, part", [
    (["--subject", "0,0,0"], "--subject needs --reference-subject"),
    (["--reference-subject", "nan,0,1"], "--reference-subject nan,0,1: the coordinates must be finite"),
    (["--reference-subject", "0,0"], "expected X,Y,Z"),
    (["--reference-subject", "0,0,1", "--subject", "0,inf,0"], "the coordinates must be finite"),
    (["--reference-subject", _point(2 * orbit().centres[0] - SUBJECT)], "behind the reference camera at frame 0"),
    (["--reference-subject", _point(orbit().centres[3])], "at the reference camera's centre at frame 3"),
    (["--reference-subject", "0,0,1", "--subject", _point(START)], "target start camera's centre"),
])
def test_cli_refuses_bad_subjects_in_one_line(cli_scene, capsys, extra, part):
    code = main([str(a) for a in _transfer_argv(cli_scene, *extra)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("parascale: error: ") and part in lines[0], err
    assert "Warning" not in err
    assert not (cli_scene / "out.parascale.json").exists()


def test_moving_subjects_are_followed_frame_by_frame():
    """A subject given per frame (an animated object in Blender) is anchored where it is at each frame."""
    reference = orbit()
    n = len(reference)
    drift = np.linspace(0.0, 1.0, n)[:, None]
    statue = SUBJECT + drift * np.array([0.0, 1.5, 0.5])
    cup = CUP + drift * np.array([-0.04, 0.03, 0.0])
    anchor = subject_anchor(reference, statue, cup, desk_bounds(), start_rotation(), START)
    result = transfer(reference, 10.0, desk_bounds(), start_rotation(), START, tolerance=TOLERANCE, reorient=anchor)
    written = result.trajectory
    target_image, _ = image_and_depth(written, cup)  # one point per frame
    reference_image, _ = image_and_depth(reference, statue)
    error = np.linalg.norm(target_image - reference_image, axis=1) / written.intrinsics.width
    assert error.max() < 1e-9
    # Held still at the first frame's positions instead, the anchor frames other points: the motion counts.
    still = subject_anchor(reference, statue[0], cup[0], desk_bounds(), start_rotation(), START)
    assert np.abs(still(np.arange(n), anchor.untouched, written.centres) - written.rotations).max() > 1e-3


@pytest.mark.parametrize("strength", [0.5, 2.0])
def test_strength_and_subject_anchoring_together(strength):
    """The strength dial and Keep Subject Framed compose: the written move realizes g x Pi_t per frame,
    measured again at the written (anchored) poses, and the cup stays where the statue was in the frame."""
    reference = orbit()
    probe = desk_points()
    anchor = subject_anchor(reference, SUBJECT, CUP, probe, start_rotation(), START)
    result = transfer(reference, 10.0, probe, start_rotation(), START, tolerance=TOLERANCE, reorient=anchor,
                      strength=strength)
    written = result.trajectory
    assert result.converged.all()
    depth = np.asarray(probe(Views.of(written)))
    pi = np.linalg.norm(np.diff(written.centres, axis=0), axis=1) / depth[1:]
    assert np.abs(np.log(pi / (strength * result.pi_reference))).max() < 3 * TOLERANCE
    assert framing_error(written, reference, CUP).max() < 0.005
