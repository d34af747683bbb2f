"""The per-frame record stored on a calibrated camera: round trip through ID-property-like mappings and
stale detection."""

import numpy as np
from parascale.parascale_blender.transfer_record import TransferRecord, is_stale, load, store


def make_record(n=5, offset=12.0, extent=0.004):
    centres = np.stack([np.linspace(0, extent, n) + offset, np.zeros(n), np.zeros(n)], axis=1)
    return TransferRecord(
        reference="Cam", mode="PER_FRAME", source_reference="bounds", source_target="geometry",
        frames=np.arange(n) + 10, pi_reference=np.full(n - 1, 0.01), pi_realized=np.full(n - 1, 0.01),
        pi_uncalibrated=np.full(n - 1, 3.0), scale=np.full(n - 1, 1e-3), depth_reference=np.full(n, 5.0),
        depth_target=np.full(n, 0.005), centres=centres, reference_centres=centres * 1000,
        start_centre=centres[0], start_rotation=np.eye(3), pce=1e-9, bias=1.0)


class FakeID(dict):
    """Stands in for an ID's custom properties (item access and get)."""


def test_round_trip_through_properties():
    record = make_record()
    obj = FakeID()
    store(obj, record)
    back = load(obj)
    assert back is not None and back.reference == "Cam" and back.mode == "PER_FRAME"
    np.testing.assert_array_equal(back.frames, record.frames)
    np.testing.assert_allclose(back.centres, record.centres)
    np.testing.assert_allclose(back.start_rotation, np.eye(3))


def test_missing_or_inconsistent_records_load_as_none():
    assert load(FakeID()) is None
    obj = FakeID()
    store(obj, make_record())
    obj["parascale"]["pi_realized"] = [0.1]
    assert load(obj) is None
    obj["parascale"] = {"version": 99}
    assert load(obj) is None


def test_stale_detection_is_relative_to_the_move_not_to_the_origin():
    record = make_record(offset=12.0, extent=0.004)  # a 4 mm move 12 units from the origin
    written = record.centres.astype(np.float32).astype(np.float64)
    assert not is_stale(record, written)
    edited = record.centres.copy()
    edited[2, 1] += 0.0004  # 10% of the move
    assert is_stale(record, edited)
    assert is_stale(record, record.centres[:-1])
