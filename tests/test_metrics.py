"""PCE, TransErr, RotErr and the identity line."""

import numpy as np
import pytest
from parascale.core.errors import TrajectoryError
from parascale.core.metrics import (
    identity_line,
    parallax_consistency,
    rotation_error,
    translation_error,
    umeyama,
)
from scipy.spatial.transform import Rotation


def test_pce_is_scale_symmetric():
    pi = np.array([0.01, 0.02, 0.03])
    twice = parallax_consistency(pi, 2 * pi)
    half = parallax_consistency(pi, pi / 2)
    assert twice.pce == pytest.approx(np.log(2)) and half.pce == pytest.approx(np.log(2))
    assert twice.bias == pytest.approx(2.0) and half.bias == pytest.approx(0.5)


def test_pce_worst_frame_and_missing_frames():
    pi = np.array([0.01, 0.01, 0.01, 0.01])
    realized = np.array([0.01, 0.03, np.nan, 0.011])
    report = parallax_consistency(pi, realized)
    assert report.worst_index == 1 and report.worst_log_ratio == pytest.approx(np.log(3))
    assert report.frames_used == 3 and report.frames_missing == 1
    assert report.pce == pytest.approx((np.log(3) + np.log(1.1)) / 3)


def test_pce_rejects_mismatched_lengths():
    with pytest.raises(TrajectoryError, match="differ in length"):
        parallax_consistency(np.ones(3), np.ones(4))


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    rot = Rotation.random(random_state=3).as_matrix()
    y = 3.7 * x @ rot.T + [1, -2, 5]
    s, r, t = umeyama(x, y)
    assert s == pytest.approx(3.7)
    np.testing.assert_allclose(r, rot, atol=1e-12)
    np.testing.assert_allclose(t, [1, -2, 5], atol=1e-12)


def test_translation_error_is_blind_to_scale_but_not_to_shape():
    rng = np.random.default_rng(1)
    ref = np.cumsum(rng.normal(size=(30, 3)), axis=0)
    assert translation_error(1e-3 * ref + 4, ref) < 1e-12
    bent = ref.copy()
    bent[15:] += [0, 0, 5]
    assert translation_error(bent, ref) > 0.01
    with pytest.raises(TrajectoryError, match="does not move"):
        translation_error(ref, np.zeros_like(ref))


def test_rotation_error_compares_relative_rotations():
    r = Rotation.random(10, random_state=2).as_matrix()
    q = Rotation.random(random_state=4).as_matrix()
    assert rotation_error(r, np.einsum("ij,njk->nik", q, r)) < 1e-7
    spun = r @ Rotation.from_euler("z", 0.1).as_matrix()
    spun[0] = r[0]
    assert rotation_error(r, spun) == pytest.approx(0.1 * 9 / 10, rel=1e-6)


def test_identity_line():
    pi = np.geomspace(1e-4, 1e-1, 20)
    line = identity_line(pi, 2 * pi)
    assert line.slope == pytest.approx(1) and line.intercept == pytest.approx(np.log(2)) and line.r_squared == 1
    noisy = identity_line(pi, pi * np.exp(np.random.default_rng(0).normal(scale=0.5, size=20)))
    assert noisy.r_squared < 0.99
