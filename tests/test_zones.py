"""Zone geometry (point-in-polygon, box overlap, distance) and the ``liverec-edge zones`` rendering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from liverec_edge.behaviour.settings import ZoneSettings
from liverec_edge.behaviour.zones import Polygon, Zones, convex_hull, point_to_hull_distance
from liverec_edge.behaviour.zones_cli import FILL_ALPHA, ZONE_COLOURS
from liverec_edge.cli import main

# An L-shaped (concave) zone: the notch at the top right is outside.
L_SHAPE = [(0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.8, 0.5), (0.8, 0.8), (0.1, 0.8)]


def test_point_in_concave_polygon():
    poly = Polygon(L_SHAPE)
    inside = np.array([[0.2, 0.2], [0.6, 0.6], [0.39, 0.49], [0.75, 0.75]])
    outside = np.array([[0.6, 0.3], [0.05, 0.5], [0.9, 0.9], [0.5, 0.45]])
    assert poly.contains(inside).all()
    assert not poly.contains(outside).any()
    assert poly.contains_point(0.2, 0.7) and not poly.contains_point(0.7, 0.2)
    # Landmarks come as N×3 (z ignored); NaN rows are never inside.
    assert poly.contains(np.array([[0.2, 0.2, 5.0], [np.nan, 0.2, 0.0]])).tolist() == [True, False]
    assert poly.fraction_inside(np.zeros((0, 3))) == 0.0
    assert poly.area == pytest.approx(0.3 * 0.7 + 0.4 * 0.3)


def test_box_overlap_is_exact():
    square = Polygon([(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    assert square.box_overlap((0.25, 0.2, 0.75, 0.4)) == pytest.approx(0.5)
    assert square.box_overlap((0.1, 0.1, 0.2, 0.2)) == pytest.approx(1.0)
    assert square.box_overlap((0.6, 0.1, 0.9, 0.2)) == 0.0
    assert square.box_overlap((0.3, 0.3, 0.2, 0.2)) == 0.0  # inverted box
    # Concave: the box over the L's notch corner overlaps only the L's arm below it.
    assert Polygon(L_SHAPE).box_overlap((0.3, 0.4, 0.5, 0.6)) == pytest.approx(0.75)


@settings(max_examples=60, deadline=None)
@given(
    x0=st.floats(0.0, 0.8), y0=st.floats(0.0, 0.8), w=st.floats(0.05, 0.2), h=st.floats(0.05, 0.2),
)
def test_box_overlap_matches_sampling(x0, y0, w, h):
    """Exact clipping agrees with counting a dense grid of points inside the box that fall in the polygon."""
    poly = Polygon(L_SHAPE)
    xs, ys = np.meshgrid(np.linspace(x0, x0 + w, 81)[:-1] + w / 160, np.linspace(y0, y0 + h, 81)[:-1] + h / 160)
    sampled = poly.fraction_inside(np.stack([xs.ravel(), ys.ravel()], axis=1))
    assert poly.box_overlap((x0, y0, x0 + w, y0 + h)) == pytest.approx(sampled, abs=0.03)


def test_distance_respects_aspect():
    square = Polygon([(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)])
    d = square.distance(np.array([[0.5, 0.5], [0.8, 0.5], [0.5, 0.8], [0.8, 0.8]]), aspect=0.75)
    assert d[0] == 0.0  # inside
    assert d[1] == pytest.approx(0.2)  # 0.2 frame widths to the right
    assert d[2] == pytest.approx(0.2 * 0.75)  # 0.2 frame heights below = 0.15 frame widths on a 4:3 frame
    assert d[3] == pytest.approx(np.hypot(0.2, 0.15))


def test_convex_hull_of_hand_like_points():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [0.2, 0.8]])
    hull = convex_hull(pts)
    assert sorted(map(tuple, hull.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert convex_hull(np.array([[0.1, 0.1], [0.1, 0.1]])).shape[0] == 1


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000), x=st.floats(0.0, 1.0), y=st.floats(0.0, 1.0),
    aspect=st.sampled_from([0.5625, 0.75, 1.0]),
)
def test_point_to_hull_distance_matches_the_polygon_distance(seed, x, y, aspect):
    """The fast one-point path used for the mouth agrees with the general polygon distance (hull of 21 points)."""
    pts = np.random.default_rng(seed).uniform(0.3, 0.7, (21, 2))
    expected = Polygon(convex_hull(pts)).distance(np.array([[x, y]]), aspect)[0]
    assert point_to_hull_distance(pts, x, y, aspect) == pytest.approx(expected, abs=1e-9)


def test_polygon_rejects_bad_points():
    with pytest.raises(ValueError, match="at least 3"):
        Polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="finite"):
        Polygon([(0, 0), (1, np.nan), (1, 1)])


def test_seat_defaults_to_whole_frame():
    zones = Zones.from_settings(ZoneSettings())
    assert zones.seat_is_default and zones.microphone is None and zones.keyboard is None
    assert zones.seat.contains(np.array([[0.01, 0.01], [0.99, 0.99], [0.5, 0.5]])).all()
    assert [name for name, _ in zones.items()] == ["seat"]


# -- the zones command ----------------------------------------------------------------------------------------


def _config(tmp_path, zones: str) -> str:
    path = tmp_path / "studio.yaml"
    path.write_text("behaviour:\n  zones:\n" + zones)
    return str(path)


def test_zones_command_renders_fill_inside_and_leaves_outside(tmp_path, shared_media):
    frame_path = shared_media / "images" / "grace_hopper.bmp"
    config = _config(tmp_path, "    microphone: [[0.55, 0.55], [0.95, 0.55], [0.95, 0.95], [0.55, 0.95]]\n"
                               "    keyboard: '0.05,0.05,0.3,0.05,0.3,0.3,0.05,0.3'\n")
    out = tmp_path / "zones.png"
    assert main(["zones", "--config", config, "--frame", str(frame_path), "--out", str(out)]) == 0
    original = np.asarray(Image.open(frame_path).convert("RGB")).astype(float)
    rendered = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert rendered.shape == original.shape
    h, w = original.shape[:2]

    def pixel(image, x, y):
        return image[round(y * (h - 1)), round(x * (w - 1))]

    # Inside the microphone zone: the frame blended with the zone colour at the documented opacity.
    for x, y in [(0.75, 0.75), (0.6, 0.9)]:
        expected = (1 - FILL_ALPHA) * pixel(original, x, y) + FILL_ALPHA * np.array(ZONE_COLOURS["microphone"])
        assert np.abs(pixel(rendered, x, y) - expected).max() <= 2
    inside_kb = (1 - FILL_ALPHA) * pixel(original, 0.2, 0.2) + FILL_ALPHA * np.array(ZONE_COLOURS["keyboard"])
    assert np.abs(pixel(rendered, 0.2, 0.2) - inside_kb).max() <= 2
    # Outside every zone (and away from the default seat's outline at the border): untouched.
    for x, y in [(0.4, 0.45), (0.45, 0.7), (0.8, 0.3)]:
        assert np.array_equal(pixel(rendered, x, y), pixel(original, x, y))


def test_zones_command_on_video_frame_and_blank_grid(tmp_path, shared_media):
    config = _config(tmp_path, "    seat: [[0.2, 0.0], [0.8, 0.0], [0.8, 1.0], [0.2, 1.0]]\n")
    out = tmp_path / "video.png"
    video = shared_media / "video" / "asl" / "eat.mkv"
    assert main(["zones", "--config", config, "--frame", str(video), "--at", "0.5", "--out", str(out)]) == 0
    assert Image.open(out).size == (640, 480)
    grid = tmp_path / "grid.png"
    assert main(["zones", "--config", config, "--out", str(grid)]) == 0
    image = np.asarray(Image.open(grid).convert("RGB")).astype(int)
    seat_colour = np.array(ZONE_COLOURS["seat"])
    # The configured seat is filled; the grey canvas outside it is not.
    assert np.abs(image[250, 330] - (0.65 * 96 + 0.35 * seat_colour)).max() <= 2  # off the grid lines
    assert np.array_equal(image[250, 40], [96, 96, 96])


def test_zones_command_bad_inputs(tmp_path, capsys):
    bad = _config(tmp_path, "    microphone: [[0.5, 0.5], [0.6, 0.6]]\n")
    assert main(["zones", "--config", bad, "--out", str(tmp_path / "x.png")]) == 2
    assert "behaviour.zones.microphone" in capsys.readouterr().err
    good = _config(tmp_path, "    microphone: [[0.5, 0.5], [0.6, 0.5], [0.6, 0.6]]\n")
    assert main(["zones", "--config", good, "--frame", str(tmp_path / "missing.png"), "--out",
                 str(tmp_path / "x.png")]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["zones", "--config", good, "--out", str(tmp_path / "no" / "dir" / "x.png")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_zones_command_grabs_from_configured_camera(tmp_path):
    config = tmp_path / "studio.yaml"
    config.write_text("capture:\n  camera: {kind: synthetic, width: 320, height: 240}\n"
                      "behaviour:\n  zones:\n    microphone: [[0.5, 0.5], [0.6, 0.5], [0.6, 0.6]]\n")
    out = tmp_path / "cam.png"
    assert main(["zones", "--config", str(config), "--camera", "--out", str(out)]) == 0
    assert Image.open(out).size == (320, 240)
