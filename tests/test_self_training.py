"""Label-free training with self-training rounds, on small generated fields."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import IGNORE_LABEL, ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import RoundProgress, Stage, drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter
from napari_selfsup_seg.workflows._label_free import label_free_iter
from napari_selfsup_seg.workflows._self_training import (
    SelfTrainingConfig,
    objects_changed,
    self_train_iter,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TC = TrainConfig(steps=12, batch_size=2, tile_size=64, device="cpu")


def _planes(n=2, shape=(96, 96)):
    return [make_sample(shape, seed=s).fluorescence for s in range(n)]


def test_rounds_log_label_free_scores_and_keep_the_model():
    planes = _planes()
    teacher = drain(threshold_iter(planes, ThresholdConfig()))
    records: list = []
    result = drain(
        self_train_iter(
            planes,
            teacher.labels,
            teacher.maps,
            TC,
            ModelConfig.tiny(),
            SelfTrainingConfig(rounds=2, min_change=0.0, min_objects_changed=0),
        ),
        records.append,
    )
    rounds = [r for r in records if isinstance(r, RoundProgress)]
    assert [r.stage for r in rounds] == [Stage.SELF_TRAIN] * 3
    assert [r.done for r in rounds] == [1, 2, 3]
    # Round 0 trains on the pseudo-masks, later rounds fine-tune for half the steps.
    trains = [r for r in records if r.stage == Stage.TRAIN]
    assert len(trains) == 12 + 6 + 6
    assert [h["round"] for h in result.rounds] == [0, 1, 2]
    assert result.rounds[0]["change"] is None
    for h in result.rounds:
        assert 0.0 <= h["score"] <= 1.0
    for h in result.rounds[1:]:
        assert 0.0 <= h["change"] <= 1.0
        assert h["objects_changed"] >= 0
    # Each record carries its own network (the next round fine-tunes a copy).
    assert rounds[0].model is not rounds[1].model
    assert rounds[-1].model is result.model
    prov = result.model.config.provenance
    assert prov["self_training_rounds"] == 2
    assert [h["round"] for h in prov["self_training"]] == [0, 1, 2]
    assert prov["ignore_band"] == [0.25, 0.75]


def _one_plane(config: SelfTrainingConfig):
    """Teacher and self-training result of one generated plane."""
    planes = _planes(1)
    teacher = drain(threshold_iter(planes, ThresholdConfig()))
    model_config = ModelConfig.tiny()
    result = self_train_iter(planes, teacher.labels, teacher.maps, TC, model_config, config)
    return teacher, drain(result)


def test_uncertain_pixels_of_the_teacher_are_ignored():
    teacher, result = _one_plane(SelfTrainingConfig(rounds=0))
    mask, prob = result.masks[0], teacher.maps[0]
    uncertain = (prob > 0.25) & (prob < 0.75)
    assert uncertain.any()
    assert np.all(mask[uncertain] == IGNORE_LABEL)
    sure = ~uncertain
    assert np.array_equal(mask[sure], teacher.labels[0][sure])
    assert len(result.rounds) == 1


def test_rounds_stop_when_the_masks_stop_changing():
    _teacher, result = _one_plane(
        SelfTrainingConfig(rounds=5, min_change=1.0, min_objects_changed=0)
    )
    # Any change is below 100 %, so the first round after the pseudo-masks is the last.
    assert [h["round"] for h in result.rounds] == [0, 1]


def test_no_round_trains_on_the_same_objects_again():
    # No prediction changes a million objects: the first training is the only one, and its
    # targets stay those of the pseudo-masks.
    config = SelfTrainingConfig(rounds=3, min_change=0.0, min_objects_changed=10**6)
    teacher, result = _one_plane(config)
    assert [h["round"] for h in result.rounds] == [0]
    assert result.model.config.provenance["self_training_rounds"] == 0
    sure = (teacher.maps[0] <= 0.25) | (teacher.maps[0] >= 0.75)
    assert np.array_equal(result.masks[0][sure], teacher.labels[0][sure])


def test_objects_changed_counts_found_lost_split_and_merged_objects():
    before = np.zeros((40, 40), np.uint32)
    before[2:10, 2:10] = 1
    before[2:10, 20:30] = 2
    before[20:30, 2:20] = 3
    assert objects_changed(before, before, IGNORE_LABEL) == 0
    # Renumbered, outlines moved by a pixel, ignored pixels on the rim: the same objects.
    same = np.zeros_like(before)
    same[2:11, 2:10] = 5
    same[3:10, 20:30] = 6
    same[20:30, 2:19] = 4
    same[20, 2:19] = IGNORE_LABEL
    assert objects_changed(same, before, IGNORE_LABEL) == 0
    new = before.copy()
    new[20:30, 11:20] = 4  # object 3 split in two
    new[2:10, 2:10] = 0  # object 1 lost
    new[32:38, 32:38] = 7  # an object found
    # 3 and its two halves, 1, and 7.
    assert objects_changed(new, before, IGNORE_LABEL) == 5
    assert objects_changed(new, before, IGNORE_LABEL) == objects_changed(before, new, IGNORE_LABEL)


def test_label_free_pipeline_from_raw_planes():
    planes = _planes()
    config = SelfTrainingConfig(rounds=1, min_change=0.0, min_objects_changed=0)
    result = drain(
        label_free_iter(planes, train_config=TC, model_config=ModelConfig.tiny(), config=config)
    )
    assert result.teacher is not None and len(result.teacher) == 2
    prov = result.model.config.provenance
    assert prov["pseudo_mask"] == "threshold"
    assert len(prov["diameters"]) == 2 and all(d > 3 for d in prov["diameters"])
    assert result.model.config.diameter is not None


def test_bad_requests_are_refused():
    with pytest.raises(InputError, match="one pseudo-mask and one map"):
        drain(self_train_iter([np.zeros((32, 32))], [], [], TC))
    with pytest.raises(InputError, match="constant"):
        drain(label_free_iter([np.zeros((64, 64), np.float32)], train_config=TC))
    with pytest.raises(InputError, match="rounds"):
        SelfTrainingConfig(rounds=-1)
    with pytest.raises(InputError, match="min_objects_changed"):
        SelfTrainingConfig(min_objects_changed=-1)


FAST = ["--steps", "6", "--batch-size", "2", "--tile-size", "64", "--encoder-depth", "3"]


def _cli_json(capsys, args) -> dict:
    import json

    from napari_selfsup_seg.cli.main import main

    assert main([*args, "--device", "cpu", "--quiet", "--json", *FAST]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_trains_label_free_without_masks(tmp_path, capsys):
    import json

    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", np.stack(_planes(2)), metadata={"axes": "ZYX"})
    out = _cli_json(capsys, ["train", "--images", str(tmp_path / "a.tif"),
                             "--out", str(tmp_path / "m"), "--rounds", "1"])  # fmt: skip
    assert out["training"].startswith("label-free")
    assert [r["round"] for r in out["rounds"]] <= [0, 1] and out["rounds"][0]["round"] == 0
    prov = json.loads((tmp_path / "m" / "config.json").read_text())["provenance"]
    assert prov["pseudo_mask"] == "threshold" and len(prov["diameters"]) == 2
    assert prov["images"] == [str(tmp_path / "a.tif")] and "self_training" in prov


def test_cli_uses_the_maps_beside_pseudo_masks(tmp_path, capsys):
    import tifffile

    from napari_selfsup_seg.cli.main import main

    tifffile.imwrite(tmp_path / "a.tif", _planes(1)[0])
    assert main(["pseudo-mask", "--method", "threshold", str(tmp_path / "a.tif"),
                 "--out", str(tmp_path / "pm"), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    pseudo = tmp_path / "pm" / "a_pseudo.tif"
    args = ["train", "--images", str(tmp_path / "a.tif"), "--masks", str(pseudo)]
    out = _cli_json(capsys, [*args, "--out", str(tmp_path / "m1"), "--rounds", "0"])
    assert out["training"].startswith("pseudo-masks with their maps")
    assert len(out["rounds"]) == 1
    # Without the map beside it, the same file is trained on as it is.
    (tmp_path / "pm" / "a_prob.tif").unlink()
    out = _cli_json(capsys, [*args, "--out", str(tmp_path / "m2")])
    assert out["training"] == "masks as given" and out["rounds"] == []


def test_cli_label_free_multichannel_needs_the_channel(tmp_path, capsys):
    import tifffile

    from napari_selfsup_seg.cli.main import main

    sample = make_sample((64, 64), seed=0)
    tifffile.imwrite(tmp_path / "two.tif", sample.stack(), metadata={"axes": "CYX"})
    args = ["train", "--images", str(tmp_path / "two.tif"), "--out", str(tmp_path / "m")]
    assert main([*args, *FAST, "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--input-channel" in err[0]
    out = _cli_json(capsys, [*args[:-1], str(tmp_path / "m2"), "--input-channel", "1",
                             "--rounds", "0"])  # fmt: skip
    assert out["input_channels"] == [1]


def test_cli_brightfield_model_from_fluorescence_pseudo_masks(tmp_path, capsys):
    """The README's two lines: masks of channel 1, a model of channel 0, one round."""
    import tifffile

    from napari_selfsup_seg.cli.main import main

    sample = make_sample((96, 96), seed=0)
    tifffile.imwrite(tmp_path / "two.tif", sample.stack(), metadata={"axes": "CYX"})
    assert main(["pseudo-mask", "--method", "threshold", str(tmp_path / "two.tif"),
                 "--channel", "1", "--out", str(tmp_path / "pm"), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["train", "--images", str(tmp_path / "two.tif"), "--input-channel", "0"]
    args += ["--masks", str(tmp_path / "pm" / "two_pseudo.tif"), "--out", str(tmp_path / "m")]
    out = _cli_json(capsys, [*args, "--rounds", "1"])
    assert out["training"].startswith("pseudo-masks with their maps")
    assert out["input_channels"] == [0]
    assert out["rounds"][0]["round"] == 0
