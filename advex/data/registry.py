"""The five data sets of the paper (Appendix J.1): where their files live, where to get them, how to check them.

Each :class:`DatasetSpec` names the data set's sub-folder under a data directory, its files
(logical name -> file name inside that folder), the canonical download URLs, the SHA-256 of
each file's *uncompressed* content where known, the expected shapes, and the credit line to
show wherever something derived from the data is displayed or shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from advex.errors import AdvexError

UCI_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases"
MNIST_BASE = "https://ossci-datasets.s3.amazonaws.com/mnist"  # mirror of yann.lecun.com/exdb/mnist
FASHION_BASE = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_BATCH_FOLDER = "cifar-10-batches-py"

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    """What advex knows about one data set.

    ``files`` maps a logical name to the file name inside ``folder``; ``also_in`` lists further folders
    (relative to a data root, "." for the root itself) searched after ``folder``. IDX files (``compressed_ok``)
    may also be stored gzip-compressed as ``<name>.gz``. ``sha256`` holds, per logical file, the
    accepted SHA-256 digests of the uncompressed content (empty: no digest known). ``urls`` maps a
    logical file to its download URL (CIFAR-10 downloads one archive, ``archive_url``, instead).

    Tabular files also carry ``rows_sha256``, an order-independent digest (SHA-256 of the sorted,
    stripped, non-blank lines joined by newlines), because copies of the UCI files differ in row
    order and line endings; ``class_counts`` are the expected label counts of the full file.
    """

    name: str
    folder: str
    kind: str  # "tabular" or "image"
    files: dict[str, str]
    urls: dict[str, str]
    sha256: dict[str, tuple[str, ...]]
    shapes: dict[str, tuple[int, ...]]
    description: str
    credit: str
    compressed_ok: bool = False
    archive_url: str | None = None
    archive_md5: str | None = None
    class_names: tuple[str, ...] = field(default=())
    rows_sha256: dict[str, tuple[str, ...]] = field(default_factory=dict)
    class_counts: dict[int, int] = field(default_factory=dict)
    also_in: tuple[str, ...] = ()

    def folders(self) -> tuple[str, ...]:
        """Folders (relative to a data root) that may hold the data set, searched in this order."""
        return (self.folder, *self.also_in)

    def candidates(self, logical: str) -> list[str]:
        """File names (relative to the data set's folder) that may hold ``logical``, preferred first."""
        base = self.files[logical]
        return [base, base + ".gz"] if self.compressed_ok else [base]


MNIST_CREDIT = (
    "MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, http://yann.lecun.com/exdb/mnist/ (CC BY-SA 3.0)"
)
FASHION_CREDIT = (
    "Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf, Zalando Research, "
    "https://github.com/zalandoresearch/fashion-mnist (MIT licence)"
)
CIFAR_CREDIT = (
    "CIFAR-10: A. Krizhevsky, 'Learning Multiple Layers of Features from Tiny Images', 2009, "
    "https://www.cs.toronto.edu/~kriz/cifar.html"
)
MUSHROOM_CREDIT = (
    "Mushroom data set, UCI Machine Learning Repository (J. Schlimmer, 1987; The Audubon Society "
    "Field Guide to North American Mushrooms, 1981), https://doi.org/10.24432/C5959T (CC BY 4.0)"
)
SPAMBASE_CREDIT = (
    "Spambase data set, UCI Machine Learning Repository (M. Hopkins, E. Reeber, G. Forman, "
    "J. Suermondt, Hewlett-Packard Labs, 1999), https://doi.org/10.24432/C53G6X (CC BY 4.0)"
)

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_IDX_SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}

DATASETS: dict[str, DatasetSpec] = {
    "mushroom": DatasetSpec(
        name="mushroom",
        folder="mushroom",
        kind="tabular",
        files={"data": "agaricus-lepiota.data"},
        urls={"data": f"{UCI_BASE}/mushroom/agaricus-lepiota.data"},
        sha256={"data": ("2d222986be8c5be6058f1308ffeded0d08446511d2d1e054ca2607dab57b4fcd",)},
        shapes={"data": (8124, 23)},
        rows_sha256={"data": ("e616f69ec96cd100212d1e61a2ce31d1c1be14bf26332db8cb873d34665adfcc",)},
        class_counts={0: 3916, 1: 4208},
        description="8,124 mushrooms, 22 categorical attributes; label 1 = edible, 0 = poisonous",
        credit=MUSHROOM_CREDIT,
    ),
    "spambase": DatasetSpec(
        name="spambase",
        folder="spambase",
        kind="tabular",
        files={"data": "spambase.data"},
        urls={"data": f"{UCI_BASE}/spambase/spambase.data"},
        sha256={"data": ("ebec58cfca94ea61c77df632314acae15bad410f4769d38b1a66cb41050e3431",)},
        shapes={"data": (4601, 58)},
        rows_sha256={"data": ("3802428e775e27a8280ec2f36f18bbaebe048323a99e8f43cb3310083ca2f2b2",)},
        class_counts={0: 2788, 1: 1813},
        description="4,601 e-mails, 57 numeric attributes; label 1 = spam, 0 = not spam",
        credit=SPAMBASE_CREDIT,
    ),
    "mnist": DatasetSpec(
        name="mnist",
        folder="mnist",
        kind="image",
        files=dict(IDX_FILES),
        urls={key: f"{MNIST_BASE}/{fname}.gz" for key, fname in IDX_FILES.items()},
        sha256={
            "train_images": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",),
            "train_labels": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",),
            "test_images": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",),
            "test_labels": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",),
        },
        shapes=dict(_IDX_SHAPES),
        description="70,000 handwritten digits, 28x28 grey-scale, 10 classes",
        credit=MNIST_CREDIT,
        compressed_ok=True,
        class_names=tuple(str(digit) for digit in range(10)),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        folder="fashion-mnist",
        kind="image",
        files=dict(IDX_FILES),
        urls={key: f"{FASHION_BASE}/{fname}.gz" for key, fname in IDX_FILES.items()},
        sha256={
            "train_images": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",),
            "train_labels": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",),
            "test_images": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",),
            "test_labels": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",),
        },
        shapes=dict(_IDX_SHAPES),
        description="70,000 Zalando article images, 28x28 grey-scale, 10 classes",
        credit=FASHION_CREDIT,
        compressed_ok=True,
        class_names=FASHION_CLASSES,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        folder="cifar10",
        kind="image",
        files={
            **{f"data_batch_{i}": f"{CIFAR_BATCH_FOLDER}/data_batch_{i}" for i in range(1, 6)},
            "test_batch": f"{CIFAR_BATCH_FOLDER}/test_batch",
            "meta": f"{CIFAR_BATCH_FOLDER}/batches.meta",
        },
        urls={},
        sha256={},
        shapes={
            **{f"data_batch_{i}": (10000, 3, 32, 32) for i in range(1, 6)},
            "test_batch": (10000, 3, 32, 32),
        },
        description="60,000 colour images, 32x32, 10 classes (the python pickle batches)",
        credit=CIFAR_CREDIT,
        archive_url=CIFAR_URL,
        archive_md5=CIFAR_ARCHIVE_MD5,
        class_names=CIFAR_CLASSES,
        also_in=(".",),  # <root>/cifar-10-batches-py, where the official archive extracts
    ),
}

TABULAR_DATASETS = tuple(name for name, spec in DATASETS.items() if spec.kind == "tabular")
IMAGE_DATASETS = tuple(name for name, spec in DATASETS.items() if spec.kind == "image")


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``; a clear error listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise AdvexError(
            f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}"
        ) from None
