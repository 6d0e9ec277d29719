"""The machine line: CPU, cores, accelerator, versions."""

import os
import types

import jax

from fira_jax.lab import machine


def test_machine_line_on_the_cpu():
  info = machine.machine_info()
  assert info["cores"] == os.cpu_count() and info["platform"] == "cpu"
  assert info["versions"]["jax"] == jax.__version__
  line = machine.describe_machine(info)
  assert "no GPU" in line and f"jax {jax.__version__}" in line and info["cpu"] in line


def test_machine_line_names_an_accelerator(monkeypatch):
  gpu = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H200")
  monkeypatch.setattr(jax, "devices", lambda: [gpu, gpu])
  line = machine.describe_machine()
  assert "2 × NVIDIA H200 (runs on it)" in line and "no GPU" not in line
