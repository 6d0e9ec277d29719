"""PudNet: the parameters of a ConvNet for an unseen image dataset in one forward pass.

Wang et al., "Learning to Generate Parameters of ConvNets for Unseen Image Data", IEEE TIP
2024 (arXiv 2310.11862). ``PudNet`` maps a labelled support set to the parameters of a target
ConvNet (:func:`net_a`, :func:`net_b`, :func:`resnet18`); :func:`meta_train` trains it on
k-way sub-datasets; ``fira-jax hypernet pudnet`` runs the comparison with training from scratch.
"""

from hypernet._baselines import EvalSpec, pudnet_accuracy, random_accuracy, timed, train_curves
from hypernet._convnet import TARGETS, ConvNet, LayerSpec, get_target, net_a, net_b, resnet18
from hypernet._data import (
  DATASETS,
  ImageSet,
  Splits,
  colorize,
  load_cifar10,
  load_dataset,
  load_digits,
  load_mnist,
  load_tfds,
)
from hypernet._experiment import Experiment
from hypernet._pudnet import PudNet, check_support, predict, prototypes
from hypernet._tasks import Episode, Pool, flatten, make_pool, sample_episode
from hypernet._train import MetaTrainResult, build_pudnet, meta_loss_fn, meta_optimizer, meta_train
from hypernet.config import SETTINGS, PudNetConfig

__all__ = [
  "ConvNet",
  "LayerSpec",
  "TARGETS",
  "get_target",
  "net_a",
  "net_b",
  "resnet18",
  "PudNet",
  "predict",
  "prototypes",
  "check_support",
  "ImageSet",
  "Splits",
  "DATASETS",
  "load_dataset",
  "load_mnist",
  "load_cifar10",
  "load_digits",
  "colorize",
  "load_tfds",
  "Pool",
  "Episode",
  "make_pool",
  "sample_episode",
  "flatten",
  "PudNetConfig",
  "SETTINGS",
  "build_pudnet",
  "meta_train",
  "meta_loss_fn",
  "meta_optimizer",
  "MetaTrainResult",
  "EvalSpec",
  "pudnet_accuracy",
  "random_accuracy",
  "train_curves",
  "timed",
  "Experiment",
]
