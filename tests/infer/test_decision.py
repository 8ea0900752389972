"""From probabilities to classes (ccdseg/infer/decision.py): the threshold, the cleaning rules, matched detections."""
import numpy as np

from ccdseg.core.classes import BACKGROUND, CLUSTER, GLOWING, HOT_PIXEL, N_CLASSES
from ccdseg.infer.decision import (
    add_matched_detections,
    clean_clusters,
    decide_classes,
    drop_faint_clusters,
    edge_candidates,
    grow_cluster_edges,
    refine_classes,
)


def probabilities_of(ids: np.ndarray, confidence: float = 0.9) -> np.ndarray:
    p = np.full(ids.shape + (N_CLASSES,), (1 - confidence) / (N_CLASSES - 1), np.float32)
    np.put_along_axis(p, ids[..., None].astype(np.intp), confidence, axis=-1)
    return p


def test_cluster_probability_threshold_promotes_background_only():
    p = probabilities_of(np.zeros((4, 4), np.uint8))
    p[1, 1] = [0.55, 0.05, 0.0, 0.40]  # background most likely, cluster 0.40
    p[2, 2] = [0.05, 0.55, 0.0, 0.40]  # glowing most likely
    plain, _ = decide_classes(p)
    assert plain[1, 1] == BACKGROUND
    ids, fallback = decide_classes(p, {"cluster_probability": 0.3})
    assert ids[1, 1] == CLUSTER and ids[2, 2] == GLOWING
    assert fallback[2, 2] == GLOWING and fallback[1, 1] == BACKGROUND


def test_specks_on_glow_edges_are_removed_and_real_clusters_kept():
    ids = np.zeros((20, 30), np.uint8)
    ids[:, :8] = GLOWING
    ids[5, 8] = CLUSTER  # a one-pixel speck on the glow edge
    ids[12:15, 8:10] = CLUSTER  # a 6-px cluster on the edge
    ids[3, 20] = CLUSTER  # a one-pixel cluster far from the glow
    fallback = np.zeros_like(ids)
    cleaned = clean_clusters(ids.copy(), fallback, glow_edge_max_px=4)
    assert cleaned[5, 8] == BACKGROUND
    assert np.all(cleaned[12:15, 8:10] == CLUSTER) and cleaned[3, 20] == CLUSTER
    assert np.array_equal(clean_clusters(ids.copy(), fallback, glow_edge_max_px=0), ids)


def test_clusters_along_hot_segments_are_halos():
    ids = np.zeros((20, 30), np.uint8)
    ids[10, 2:28] = HOT_PIXEL
    ids[11, 5:20] = CLUSTER  # a line beside the hot segment: its halo
    ids[3:6, 3:6] = CLUSTER  # a real deposit elsewhere
    cleaned = clean_clusters(ids.copy(), np.zeros_like(ids), hot_halo_fraction=0.5)
    assert not (cleaned[11] == CLUSTER).any() and np.all(cleaned[3:6, 3:6] == CLUSTER)


def test_compact_hot_spots_are_deposit_peaks_and_hot_segments_stay_hot():
    from ccdseg.infer.hot_rules import compact_hot_clusters

    ids = np.zeros((2, 40, 40), np.uint8)
    z = np.zeros((2, 40, 40), np.float32)
    ids[0, 10, 10], z[0, 9:12, 9:12] = HOT_PIXEL, 3.0  # a deposit's peak called hot, its halo background
    z[0, 10, 10] = 100.0
    ids[0, 20:23, 30], ids[0, 19, 30], ids[0, 23:26, 30] = CLUSTER, HOT_PIXEL, HOT_PIXEL  # a segment broken in pieces
    ids[0, 39, 5] = HOT_PIXEL  # a segment cut short by the frame's edge
    ids[0, 30, 20], ids[0, 29:32, 21] = HOT_PIXEL, GLOWING  # beside a glowing block
    ids[0, 35, 2:5] = HOT_PIXEL  # a piece of a segment: three in a row, one pixel thick
    ids[1, 5:11, 5:7] = HOT_PIXEL  # six rows: a segment for the rule's 6 px
    before = ids.copy()
    compact_hot_clusters(ids, 6, z, 1.5)
    assert (ids[0, 9:12, 9:12] == CLUSTER).all()  # peak and halo
    changed = np.zeros(ids.shape, bool)
    changed[0, 9:12, 9:12] = True
    assert np.array_equal(ids[~changed], before[~changed])
    ids = before.copy()
    compact_hot_clusters(ids, 6)
    assert ids[0, 10, 10] == CLUSTER and ids[0, 9, 9] == BACKGROUND  # no growth without the frame's values
    ids = before.copy()
    refine_classes(ids, np.zeros_like(ids), {"hot_min_length_px": 7}, None, None)
    assert (ids[1, 5:11, 5:7] == CLUSTER).all()  # a spot when the card says segments are 7 or longer


def test_a_level_line_of_bright_pixels_is_a_hot_segment_and_a_track_is_not():
    from ccdseg.infer.decision import drop_background_clusters

    rng = np.random.default_rng(2)
    ids = np.zeros((40, 40), np.uint8)
    z = rng.normal(0.0, 1.0, (40, 40)).astype(np.float32)
    ids[5:15, 4:7] = CLUSTER  # a faint hot column and the halo the network put around it
    z[5:15, 5] += 15.0
    ids[5:15, 20:23] = CLUSTER  # a straight track: its charge fluctuates from pixel to pixel
    z[5:15, 21] += rng.gamma(2.0, 12.0, 10).astype(np.float32) + 6.0
    ids[25:29, 4:7] = CLUSTER  # four level pixels: too short for a segment
    z[25:29, 5] += 15.0
    ids[25:35, 20:23] = CLUSTER  # level, but over two columns: a deposit, not a segment
    z[25:35, 21:23] += 15.0
    before = ids.copy()
    drop_background_clusters(ids, z, {"hot_min_length_px": 6})
    assert np.array_equal(ids, before)  # the rule needs its spread
    drop_background_clusters(ids, z, {"hot_min_length_px": 6, "hot_line_max_spread": 3.0})
    assert (ids[5:15, 5] == HOT_PIXEL).all() and (ids[5:15, [4, 6]] == BACKGROUND).all()
    changed = np.zeros(ids.shape, bool)
    changed[5:15, 4:7] = True
    assert np.array_equal(ids[~changed], before[~changed])


def test_matched_detections_add_faint_points_away_from_defects_and_clusters():
    ids = np.zeros((40, 40), np.uint8)
    ids[:, :6] = GLOWING
    ids[30:33, 30:33] = CLUSTER
    significance = np.zeros((40, 40), np.float32)
    z = np.zeros((40, 40), np.float32)
    significance[15, 20], z[15, 20:22] = 6.0, 2.0  # a faint point: a peak and a neighbour above 1.5 sigma
    significance[15, 7] = 9.0  # the edge of the glow: guarded
    significance[29, 31] = 9.0  # beside a cluster already found
    significance[5, 30] = 4.0  # below the threshold
    added = add_matched_detections(ids.copy(), significance, z, threshold=5.0, guard_px=3, grow_sigma=1.5)
    assert added[15, 20] == CLUSTER and added[15, 21] == CLUSTER
    assert added[15, 7] == BACKGROUND and added[5, 30] == BACKGROUND
    assert np.array_equal(added[25:35, 25:35], ids[25:35, 25:35])


def test_frame_defects_replace_the_networks_and_bright_unlisted_ones_are_clusters():
    from ccdseg.infer.decision import apply_frame_defects

    ids = np.zeros((10, 10), np.uint8)
    ids[2, 4] = HOT_PIXEL  # the network calls an X-ray's core hot
    ids[7, 7] = GLOWING  # ... and a faint speck glowing
    ids[:, 9] = CLUSTER  # a track along the first column's twin
    defects = np.zeros((10, 10), np.uint8)
    defects[:, 0] = GLOWING
    defects[:, 9] = HOT_PIXEL
    z = np.zeros((10, 10), np.float32)
    z[2, 4] = 40.0
    apply_frame_defects(ids, defects, z, cluster_sigma=5.0)
    assert ids[2, 4] == CLUSTER and ids[7, 7] == BACKGROUND
    assert np.all(ids[:, 0] == GLOWING) and np.all(ids[:, 9] == HOT_PIXEL)


def test_faint_clusters_the_background_could_make_are_dropped():
    from ccdseg.infer.decision import drop_faint_clusters

    ids = np.zeros((12, 12), np.uint8)
    z = np.zeros((12, 12), np.float32)
    ids[1, 1:3], z[1, 1:3] = CLUSTER, 3.0  # two dark-current electrons: 6 / sqrt(2) = 4.2
    ids[6:8, 6:8], z[6:8, 6:8] = CLUSTER, 10.0  # a deposit: 40 / 2 = 20
    drop_faint_clusters(ids, z, 6.0)
    assert not (ids[1] == CLUSTER).any() and (ids[6:8, 6:8] == CLUSTER).all()


def glowing_block(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 40 frame's class ids and z (noise sigmas): a glowing block of columns 10 to 29, 20 sigma high."""
    ids = np.zeros((40, 40), np.uint8)
    ids[:, 10:30] = GLOWING
    z = np.random.default_rng(seed).normal(0.0, 1.0, (40, 40)).astype(np.float32)
    z[:, 10:30] += 20.0
    return ids, z


def test_clusters_inside_a_glowing_block_stand_above_the_glow_or_become_glowing():
    from ccdseg.infer.decision import drop_glow_clusters

    ids, z = glowing_block(0)
    ids[5:10, 15:20] = CLUSTER  # a patch of the glow's own noise
    ids[20:23, 15:18], z[20:23, 15:18] = CLUSTER, 30.0  # a deposit on the glow: 9 x 10 / 3 = 30 sigma above it
    ids[30:33, 28:32] = CLUSTER  # on the block's edge, not enclosed: left to the other rules
    ids[2:4, 35:37], z[2:4, 35:37] = CLUSTER, 1.0  # away from the glow: untouched
    before = ids.copy()
    drop_glow_clusters(ids, z, 3.0)
    assert (ids[5:10, 15:20] == GLOWING).all()
    assert np.array_equal(ids[20:, :], before[20:, :]) and (ids[2:4, 35:37] == CLUSTER).all()


def test_a_hot_segment_crossing_a_glowing_block_is_hot_not_a_cluster():
    from ccdseg.infer.decision import drop_glow_clusters

    ids, z = glowing_block(1)
    ids[5:25, 20], z[5:25, 20] = HOT_PIXEL, 60.0  # a hot column ending inside the block
    ids[12:18, 18:23] = CLUSTER  # the network's cluster where the column crosses: glow and hot pixels
    ids[30:33, 14:17], z[30:33, 14:17] = CLUSTER, 30.0  # a deposit on the glow, bright in three columns
    before = ids.copy()
    drop_glow_clusters(ids, z, 3.0)
    assert (ids[12:18, 20] == CLUSTER).all()  # without the hot-line test the column keeps the cluster
    ids = before.copy()
    drop_glow_clusters(ids, z, 3.0, 10.0)
    assert (ids[5:25, 20] == HOT_PIXEL).all()
    assert (ids[12:18, [18, 19, 21, 22]] == GLOWING).all()
    assert (ids[30:33, 14:17] == CLUSTER).all()


def test_a_cluster_on_a_glowing_blocks_edge_at_the_glows_level_is_glowing():
    from ccdseg.infer.decision import drop_glow_clusters

    ids, z = glowing_block(3)
    ids[5:10, 28:32] = CLUSTER  # across the block's edge, at the glow's level inside it
    z[5:10, 30:32] += 20.0
    ids[20:24, 30:33] = CLUSTER  # a faint deposit beside the block, far below the glow's level
    z[20:24, 30:33] += 4.0
    ids[30:33, 27:31] = CLUSTER  # a deposit on the block's edge, well above the glow
    z[30:33, 27:31] += 30.0
    before = ids.copy()
    drop_glow_clusters(ids, z, 3.0)
    assert np.array_equal(ids, before)  # edge clusters are left alone without the edge test
    drop_glow_clusters(ids, z, 3.0, None, 3.0)
    assert (ids[5:10, 28:32] == GLOWING).all()
    assert (ids[20:24, 30:33] == CLUSTER).all() and (ids[30:33, 27:31] == CLUSTER).all()


def test_clusters_the_poisson_dark_current_makes_are_dropped():
    from ccdseg.infer.decision import drop_dark_current_clusters

    ids = np.zeros((10, 10), np.uint8)
    electrons = np.zeros((10, 10), np.float32)
    ids[1, 1], electrons[1, 1] = CLUSTER, 3.0  # a lone pixel of 3 electrons at 0.06 e/pixel: one in 30,000
    ids[5:7, 5:7], electrons[5:7, 5:7] = CLUSTER, 6.0  # 24 electrons in 4 pixels: no dark current makes that
    expected = np.full((10, 10), 0.06, np.float32)
    drop_dark_current_clusters(ids, electrons, expected, 1e-8)
    assert ids[1, 1] == BACKGROUND and (ids[5:7, 5:7] == CLUSTER).all()
    ids[1, 1] = CLUSTER
    drop_dark_current_clusters(ids, electrons, expected, 1e-3)
    assert ids[1, 1] == CLUSTER  # kept when that chance is accepted


def test_faint_clusters_the_background_could_make_become_background():
    ids = np.zeros((30, 30), np.uint8)
    z = np.zeros((30, 30), np.float32)
    ids[5, 5:7], z[5, 5:7] = CLUSTER, 1.5  # two pixels of 1.5 sigma: 3 / sqrt(2) = 2.1 sigma
    ids[20:23, 20:23], z[20:23, 20:23] = CLUSTER, 3.0  # nine pixels of 3 sigma: 27 / 3 = 9 sigma
    ids[10, 25], z[10, 25] = CLUSTER, 4.5  # a single pixel of 4.5 sigma
    ids[0, 0:3] = HOT_PIXEL  # other classes are left alone
    drop_faint_clusters(ids, z, 4.0)
    assert (ids[5, 5:7] == BACKGROUND).all()
    assert (ids[20:23, 20:23] == CLUSTER).all() and ids[10, 25] == CLUSTER
    assert (ids[0, 0:3] == HOT_PIXEL).all()


def test_clusters_grow_onto_edge_pixels_holding_one_of_their_electrons():
    ids = np.zeros((12, 12), np.uint8)
    ids[5:7, 5:7] = CLUSTER
    ids[5, 7] = HOT_PIXEL  # a listed defect beside the cluster keeps its class
    electrons = np.zeros((12, 12))
    expected = np.full((12, 12), 0.05)
    electrons[4, 5] = 1.1  # one electron where dark current makes one in 20 pixels: the cluster's
    electrons[4, 4] = 0.4  # rounds to no electron
    electrons[7, 7] = np.nan
    electrons[5, 9] = 3.0  # two pixels away: not an edge
    electrons[5, 7] = 5.0
    grown = grow_cluster_edges(ids.copy(), electrons, expected, likelihood_ratio=2.0)
    assert grown[4, 5] == CLUSTER
    assert grown[4, 4] == BACKGROUND and grown[7, 7] == BACKGROUND and grown[5, 9] == BACKGROUND
    assert grown[5, 7] == HOT_PIXEL and np.all(grown[5:7, 5:7] == CLUSTER)
    assert np.count_nonzero(grown != ids) == 1
    bright = np.full((12, 12), 1.0)  # one electron per pixel of dark current: one electron is no evidence, three are
    electrons[4, 5], electrons[6, 4] = 1.0, 3.2
    grown = grow_cluster_edges(ids.copy(), electrons, bright, likelihood_ratio=2.0)
    assert grown[4, 5] == BACKGROUND and grown[6, 4] == CLUSTER


def test_clusters_grow_only_onto_the_edge_pixels_the_network_finds_plausible():
    ids = np.zeros((8, 8), np.uint8)
    ids[3:5, 3:5] = CLUSTER
    electrons = np.zeros((8, 8))
    electrons[2, 3] = electrons[2, 4] = 2.0
    p = probabilities_of(ids)
    p[2, 3] = [0.85, 0.0, 0.0, 0.15]  # the network's 15 % for a cluster pixel
    p[2, 4] = [0.97, 0.0, 0.0, 0.03]
    candidates = edge_candidates(p, {"edge_probability": 0.1})
    assert candidates[2, 3] and not candidates[2, 4] and edge_candidates(p, {}) is None
    grown = grow_cluster_edges(ids.copy(), electrons, np.full((8, 8), 0.5), 1.0, candidates)
    assert grown[2, 3] == CLUSTER and grown[2, 4] == BACKGROUND
    assert grow_cluster_edges(ids.copy(), electrons, np.full((8, 8), 0.5), 1.0)[2, 4] == CLUSTER


def test_a_bright_edge_pixel_joins_its_cluster_whatever_the_network_says():
    ids = np.zeros((8, 8), np.uint8)
    ids[3:5, 3:5] = CLUSTER
    electrons = np.zeros((8, 8))
    electrons[2, 3], electrons[2, 4], electrons[5, 5] = 4.0, 3.0, 4.0
    expected = np.full((8, 8), 1.0)
    expected[5, 5] = 1.5  # 4 electrons where the dark current makes 1.5 on average: not three times as many
    implausible = np.zeros((8, 8), bool)
    grown = grow_cluster_edges(ids.copy(), electrons, expected, 1.0, implausible, bright=(4, 3.0))
    assert grown[2, 3] == CLUSTER
    assert grown[2, 4] == BACKGROUND and grown[5, 5] == BACKGROUND
    assert np.array_equal(grow_cluster_edges(ids.copy(), electrons, expected, 1.0, implausible), ids)
