"""OTGNet training paths: sharded step, the command line, the baselines' switches."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from fira_jax.lab.cli import main
from graphs.otgnet import OTGNetConfig, make_synth, method_config, train_otgnet


@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (fake) devices")
def test_eight_devices_give_the_one_device_result(small, tiny_cfg):
  # no triads: their selection ranks near-tied float scores, which reduction order may flip
  data, splits = small
  cfg = method_config("no_triad", tiny_cfg)
  one = train_otgnet(data, cfg, seed=0, epochs=1, splits=splits)
  mesh = Mesh(np.asarray(jax.devices()[:8]), ("data",))
  eight = train_otgnet(data, cfg, seed=0, epochs=1, splits=splits, mesh=mesh)
  np.testing.assert_allclose(one["loss"], eight["loss"], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(one["acc"], eight["acc"])


@pytest.mark.parametrize(
  "method,extra",
  [
    # the baselines' switches together (one compile): ER replay, EWC, LwF, joint training
    ("er", {"ewc_lambda": 1e3, "lwf_weight": 1.0, "joint": True}),
    ("otgnet", {"importance": "lissa", "lissa_batch": 16, "official_eval": True}),
  ],
)
def test_baselines_and_switches_run(small, tiny_cfg, method, extra):
  data, splits = small
  cfg = dataclasses.replace(method_config(method, tiny_cfg), **extra)
  res = train_otgnet(data, cfg, seed=0, epochs=1, splits=splits)
  acc = np.asarray(res["acc"])
  assert acc.shape == (2, 2) and np.isnan(acc[0, 1]) and np.isfinite(res["loss"]).all()
  assert np.nanmax(acc) <= 1


def test_cli_end_to_end(tmp_path, capsys):
  out = tmp_path / "otg.json"
  argv = ["graphs", "otgnet", "--dataset", "synth", "--method", "no_ib", "--epochs", "1"]
  argv += ["--seeds", "1", "--json", str(out), "--no-progress", "--synth-per-class", "12"]
  argv += ["--synth-edges", "3", "--batch-size", "64", "--memory-dim", "8", "--hidden-dim", "8"]
  assert main(argv) == 0
  rec = json.loads(out.read_text())
  assert {"dataset", "method", "epochs", "settings", "machine", "runs"} <= set(rec)
  run = rec["runs"][0]
  assert {"seed", "data_sha256", "acc", "ap", "af", "seconds_per_epoch"} <= set(run)
  assert np.asarray(run["acc"], float).shape == (3, 3) and rec["settings"]["use_ib"] is False
  assert "AP" in capsys.readouterr().out


def test_cli_bad_inputs(capsys):
  assert main(["graphs", "otgnet", "--dataset", "reddit", "--no-progress"]) == 2
  assert "dataset must be one of" in capsys.readouterr().err
  assert main(["graphs", "otgnet", "--dataset", "cora", "--no-progress"]) == 2
  assert "--data-dir is required" in capsys.readouterr().err
  assert main(["graphs", "otgnet", "--epochs", "0", "--no-progress"]) == 2
  with pytest.raises(ValueError, match="importance must be one of"):
    OTGNetConfig(importance="hessian")
  with pytest.raises(ValueError, match="n_class and n_task"):
    make_synth(0, n_task=0)
