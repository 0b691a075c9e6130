"""Graded shifts (data.shifts): severity 0 is the identity, each transform changes what it says
it changes and nothing else, the draws are seeded per image, and the cache tells shifts and
severities apart."""

import numpy as np
import pytest
from PIL import Image

from neglabel_core.data import shifts
from neglabel_core.data.images import ImageFiles, load_rgb
from neglabel_core.models.embed import image_payload
from neglabel_core.profiles import ProfileError, load_profile


def _shift(transform, params, name="s"):
    return shifts.GradedShift(name, transform, tuple([params] * 5))


def _object_png(path, size=32, colour=(255, 0, 0)):
    """A red disc of radius size/4 at the centre, transparent elsewhere."""
    yy, xx = np.mgrid[:size, :size]
    inside = (xx - size / 2 + 0.5) ** 2 + (yy - size / 2 + 0.5) ** 2 <= (size / 4) ** 2
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[inside] = (*colour, 255)
    Image.fromarray(rgba, "RGBA").save(path)
    return inside


@pytest.fixture
def disc(tmp_path):
    inside = _object_png(tmp_path / "disc.png")
    return ImageFiles([str(tmp_path / "disc.png")], [0], ["u"], "disc"), inside


def _pixels(files, shift, severity, seed=0):
    image, _ = shifts.shifted(files, shift, severity, seed=seed)[0]
    return np.asarray(image, dtype=np.int64)


@pytest.mark.parametrize("transform,params", [
    ("background", {"strength": 1.0, "texture": 1.0, "clutter": 5}), ("lighting", {"brightness": 0.5}),
    ("pose", {"rotate": 40, "scale": 0.5, "offset": 0.2}), ("blur", {"radius": 0.1}), ("noise", {"sigma": 30})])
def test_severity_zero_is_the_unshifted_image(disc, tmp_path, transform, params):
    files, _ = disc
    rgb = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8), "RGB").save(rgb)
    both = ImageFiles([files.paths[0], str(rgb)], [0, 1], ["u", "v"], "two")
    shift = _shift(transform, params)
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(shifts.shifted(both, shift, 0)[i][0]), np.asarray(load_rgb(both.paths[i])))
        assert not np.array_equal(np.asarray(shifts.shifted(both, shift, 1)[i][0]), np.asarray(load_rgb(both.paths[i]))) \
            or (transform == "background" and i == 1)  # an opaque image has no background to replace
    assert shift.params(0) == shifts.TRANSFORMS[transform][1]


def test_background_replaces_only_transparent_pixels_with_the_far_colour(disc, tmp_path):
    files, inside = disc
    # solid: strength 1, no texture -> exactly the candidate farthest from red (255, 0, 0): cyan
    # (distance^2 3 x 255^2; black, magenta, yellow 255^2; blue 2 x 255^2; green 255^2 + 160^2; grey 48,897)
    solid = _pixels(files, _shift("background", {"strength": 1.0}), 1)
    assert (solid[~inside] == (0, 255, 255)).all()
    assert (solid[inside] == (255, 0, 0)).all()
    # strength 0.2 over white: 0.8 * 255 + 0.2 * (0, 255, 255)
    faint = _pixels(files, _shift("background", {"strength": 0.2}), 1)
    assert (faint[~inside] == (204, 255, 255)).all() and (faint[inside] == (255, 0, 0)).all()
    # texture and clutter move the background pixels apart, never the object's
    busy = _pixels(files, _shift("background", {"strength": 1.0, "texture": 1.0, "clutter": 0}), 1)
    assert busy[~inside].std(axis=0).min() > 5 and (busy[inside] == (255, 0, 0)).all()
    # no alpha channel: left as it is, and counted
    rgb = tmp_path / "opaque.jpg"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(rgb)
    opaque = ImageFiles([str(rgb), files.paths[0]], [0, 0], ["a", "b"], "mixed")
    np.testing.assert_array_equal(_pixels(opaque, _shift("background", {"strength": 1.0}), 3), np.asarray(load_rgb(str(rgb))))
    assert shifts.without_alpha(opaque) == 1


def test_lighting_follows_its_formula(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (4, 4), (200, 100, 0)).save(path)
    files = ImageFiles([str(path)], [0], ["u"], "grey")
    got = _pixels(files, _shift("lighting", {"brightness": 0.8, "contrast": 0.5, "gamma": 2.0}), 2)[0, 0]
    # y = 0.8 * (0.5 * (x^2 - 1/2) + 1/2), x = v / 255, back to 0..255 and rounded
    expected = [round(255 * 0.8 * (0.5 * ((v / 255) ** 2 - 0.5) + 0.5)) for v in (200, 100, 0)]
    assert got.tolist() == expected


def test_pose_rotates_scales_and_moves_the_object(tmp_path):
    size = 64
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[16:48, 28:36] = (0, 0, 0, 255)  # a vertical bar, 32 x 8, centred
    Image.fromarray(rgba, "RGBA").save(tmp_path / "bar.png")
    files = ImageFiles([str(tmp_path / "bar.png")], [0], ["u"], "bar")

    def dark(params):
        return _pixels(files, _shift("pose", params), 1).sum(axis=2) < 200

    turned = dark({"rotate": 90})  # the bar lies horizontally, whichever way it turned
    rows, cols = np.nonzero(turned)
    assert np.ptp(cols) > 28 and np.ptp(rows) < 10
    small = dark({"scale": 0.5})
    rows, cols = np.nonzero(small)
    assert 14 <= np.ptp(rows) + 1 <= 17 and 3 <= np.ptp(cols) + 1 <= 5
    moved = dark({"offset": 0.25})  # the centroid moves 16 px, in a seeded direction
    rows, cols = np.nonzero(moved)
    assert np.hypot(rows.mean() - 31.5, cols.mean() - 31.5) == pytest.approx(16, abs=1.0)


def test_blur_and_noise_grow_with_severity(tmp_path):
    path = tmp_path / "checker.png"
    checker = ((np.indices((32, 32)).sum(axis=0) // 4) % 2 * 255).astype(np.uint8)
    Image.fromarray(np.stack([checker] * 3, axis=2), "RGB").save(path)
    files = ImageFiles([str(path)], [0], ["u"], "checker")
    blur = shifts.GradedShift("blur", "blur", tuple({"radius": r} for r in (0.01, 0.02, 0.04, 0.06, 0.1)))
    spread = [_pixels(files, blur, s).std() for s in range(6)]
    assert all(a > b for a, b in zip(spread, spread[1:]))
    grey = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(grey)
    flat = ImageFiles([str(grey)], [0], ["u"], "grey")
    noise = shifts.GradedShift("noise", "noise", tuple({"sigma": s} for s in (5, 10, 15, 20, 25)))
    for severity, sigma in zip(range(1, 6), (5, 10, 15, 20, 25)):
        residual = _pixels(flat, noise, severity) - 128
        assert residual.std() == pytest.approx(sigma, rel=0.08) and abs(residual.mean()) < 1.0


def test_draws_are_seeded_per_image_and_study(tmp_path):
    grey = tmp_path / "grey.png"
    Image.new("RGB", (16, 16), (128, 128, 128)).save(grey)
    files = ImageFiles([str(grey), str(grey)], [0, 0], ["a", "b"], "twice")
    shift = _shift("noise", {"sigma": 20})
    first, again = shifts.shifted(files, shift, 2), shifts.shifted(files, shift, 2)
    np.testing.assert_array_equal(np.asarray(first[0][0]), np.asarray(again[0][0]))  # the same on every run
    assert not np.array_equal(np.asarray(first[0][0]), np.asarray(first[1][0]))  # another image, another draw
    other = shifts.shifted(files, shift, 2, seed=1)
    assert not np.array_equal(np.asarray(first[0][0]), np.asarray(other[0][0]))


def test_cache_keys_differ_by_shift_and_severity(disc):
    files, _ = disc

    class Loaded:
        identity = {"model": "m"}

    a = shifts.GradedShift("a", "noise", tuple({"sigma": s} for s in (1, 2, 3, 4, 5)))
    b = shifts.GradedShift("b", "noise", tuple({"sigma": s} for s in (1, 2, 3, 4, 5)))
    keys = {(name, severity): image_payload(Loaded(), shifts.shifted(files, shift, severity), "t")
            for name, shift in (("a", a), ("b", b)) for severity in range(6)}
    plain = image_payload(Loaded(), files, "t")
    assert keys[("a", 0)] == keys[("b", 0)] == plain  # severity 0 is the unshifted set's own entry
    shifted_keys = [k for (_, s), k in keys.items() if s > 0]
    assert len({repr(k) for k in shifted_keys}) == 10
    assert keys[("a", 3)]["variant"] == {"shift": "a", "transform": "noise", "severity": 3, "params": {"sigma": 3},
                                         "seed": 0, "version": shifts.SHIFT_VERSION}


def test_bad_shifts_are_refused_with_what_is_expected():
    with pytest.raises(shifts.ShiftError, match=r"^shift 'x': unknown transform 'fog'; expected one of "
                                                r"\['background', 'lighting', 'pose', 'blur', 'noise'\]$"):
        shifts.GradedShift("x", "fog", ({},) * 5)
    with pytest.raises(shifts.ShiftError, match=r"^shift 'x' has 4 severities; expected 5$"):
        shifts.GradedShift("x", "blur", ({},) * 4)
    with pytest.raises(shifts.ShiftError, match=r"^shift 'x', severity 2: unknown parameter\(s\) \['sigma'\] for transform "
                                                r"'blur'; expected some of \['radius'\]$"):
        shifts.GradedShift("x", "blur", ({}, {"sigma": 3}, {}, {}, {}))
    with pytest.raises(shifts.ShiftError, match=r"^shift 'x': severity 6 is out of range; expected an integer 0\.\.5$"):
        _shift("blur", {"radius": 0.1}, "x").params(6)
    spec = {"shifts": [{"name": "x", "transform": "blur", "severities": [{}] * 5}] * 2}
    with pytest.raises(shifts.ShiftError, match=r"^shift name 'x' appears twice in graded_shifts; expected unique names$"):
        shifts.graded_shifts(spec)
    with pytest.raises(ProfileError, match=r"graded_shifts\.shifts\.0\.severities: .* is too short"):
        load_profile("emoji-tiny", {"graded_shifts": {"shifts": [{"name": "x", "transform": "blur", "severities": [{}] * 4}]}})
    with pytest.raises(ProfileError, match=r"graded_shifts\.shifts\.0\.transform: 'fog' is not allowed"):
        load_profile("emoji-tiny", {"graded_shifts": {"shifts": [{"name": "x", "transform": "fog", "severities": [{}] * 5}]}})


def test_builtin_profiles_declare_valid_shifts():
    for name in ("emoji-tiny", "emoji-clip", "imagenet-clip"):
        spec = load_profile(name).data["graded_shifts"]
        graded = shifts.graded_shifts(spec)
        assert len(graded) >= 4 and 1 <= spec["control_severity"] <= 5
    # the paper profile's photos have no alpha channel: no background shift there
    assert "background" not in shifts.graded_shifts(load_profile("imagenet-clip").data["graded_shifts"])
