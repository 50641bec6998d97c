"""Image-classification datasets, held fully in memory as torch tensors.

:func:`load_dataset` reads a dataset from one of these sources (``spec``):

* ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes,
  shape ``(1, 8, 8)``); needs no file and no network.
* ``npz:PATH``: a NumPy ``.npz`` file with arrays ``x`` and ``y`` (optionally ``x_test`` /
  ``y_test`` for a fixed test split and ``classes`` for class names).
* ``imagefolder:PATH``: one sub-folder per class of image files, or ``train/`` and ``test/``
  folders each laid out that way.
* ``cifar10:PATH``: the CIFAR-10 python batches (``data_batch_1`` ... ``test_batch``) or the
  binary version (``data_batch_1.bin`` ... ``test_batch.bin``).
* ``mnist:PATH``: the four MNIST IDX files (``train-images-idx3-ubyte`` ...), raw or gzipped.

Without a prefix the format of a path is detected. Pixel values are scaled to ``[0, 1]``,
split into train / val / test by a stratified split fixed by ``seed`` and normalised per
channel with the mean and standard deviation of the train split only. The test split is
held out: only final reporting should read it.

Layout: :mod:`~hwnas.data.dataset` (the types), :mod:`~hwnas.data.load` (``load_dataset``,
spec resolution), :mod:`~hwnas.data.splits` (split, scale, normalise, fingerprint),
:mod:`~hwnas.data.raw` (what readers return and its checks) and :mod:`hwnas.data.readers`
(one module per format, behind a registry).
"""

from hwnas.data.dataset import Dataset, Split
from hwnas.data.load import load_dataset
from hwnas.data.readers.base import path_reader_names
from hwnas.data.readers.cifar10 import CIFAR10_CLASSES
from hwnas.data.readers.imagefolder import IMAGE_EXTENSIONS

#: The formats a spec may name with a ``FORMAT:PATH`` prefix (the registered path readers).
FORMATS = path_reader_names()

__all__ = ["CIFAR10_CLASSES", "FORMATS", "IMAGE_EXTENSIONS", "Dataset", "Split", "load_dataset"]
