"""Float64 NumPy references shared by the distillation loss tests."""

import numpy as np


def log_softmax64(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ce64(z, y):
  """Cross-entropy of logits ``z`` ``(B, C)`` on labels ``y`` ``(B,)``."""
  return -log_softmax64(z)[np.arange(len(y)), y]


def kl64(zp, zq):
  """KL(softmax(zp) || softmax(zq)) over the last axis."""
  lp, lq = log_softmax64(zp), log_softmax64(zq)
  return (np.exp(lp) * (lp - lq)).sum(-1)


def kd64(zs, zt, t):
  """Hinton KD: ``t**2 KL(softmax(zt / t) || softmax(zs / t))``."""
  return t**2 * kl64(np.asarray(zt) / t, np.asarray(zs) / t)
