"""IDX (MNIST-style) and CIFAR-10 binary readers: round trips, memory mapping, corrupt files."""

import gzip
import re
import struct
import time

import nnrun.datasets as D
import numpy as np
import pytest
from nnrun.datasets import DataError, LazyArray


def write_idx(path, array, *, compress=False, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_cifar(path, images, labels):
    records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1)
    path.write_bytes(records.astype(np.uint8).tobytes())
    return path


def raises_naming(path, match=""):
    return pytest.raises(DataError, match=re.escape(str(path)) + ".*" + match)


@pytest.fixture
def mnist_like():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=12)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, mnist_like, compress):
    images, labels = mnist_like
    write_idx(tmp_path / "img", images, compress=compress)
    write_idx(tmp_path / "lab", labels.astype(np.uint8), compress=compress)
    ds = D.load({"format": "idx", "images": "img", "labels": "lab"}, base_dir=tmp_path)
    assert ds.x.shape == (12, 1, 28, 28) and ds.x.dtype == np.float32
    assert isinstance(ds.x, LazyArray)
    # Uncompressed files stay memory-mapped; gzipped ones are read whole (as uint8).
    assert isinstance(ds.x.raw, np.memmap) is not compress
    expected = images[:, None].astype(np.float32) / 255
    np.testing.assert_allclose(np.asarray(ds.x), expected, rtol=1e-6)
    np.testing.assert_allclose(ds.x[[5, 2]], expected[[5, 2]], rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)
    raw = D.load(
        {"format": "idx", "images": "img", "labels": "lab", "scale": False}, base_dir=tmp_path
    )
    np.testing.assert_array_equal(np.asarray(raw.x), images[:, None].astype(np.float32))


def test_idx_mmap_can_be_turned_off_and_other_types(tmp_path, mnist_like):
    images, labels = mnist_like
    write_idx(tmp_path / "img", images.astype(np.float32) / 7, type_code=0x0D)  # big-endian float
    write_idx(tmp_path / "lab", labels.astype(np.int32), type_code=0x0C)
    spec = {"format": "idx", "images": "img", "labels": "lab", "mmap": False}
    ds = D.load(spec, base_dir=tmp_path)
    assert not isinstance(ds.x.raw, np.memmap)
    np.testing.assert_allclose(np.asarray(ds.x), images[:, None] / np.float32(7), rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)


def test_idx_wrong_magic_and_swapped_files(tmp_path, mnist_like):
    images, labels = mnist_like
    write_idx(tmp_path / "img", images)
    write_idx(tmp_path / "lab", labels.astype(np.uint8))
    (tmp_path / "junk").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with raises_naming(tmp_path / "junk", "magic number 0x89504E47"):
        D.load({"format": "idx", "images": "junk", "labels": "lab"}, base_dir=tmp_path)
    with raises_naming(tmp_path / "lab", "swap images and labels"):
        D.load({"format": "idx", "images": "lab", "labels": "img"}, base_dir=tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_truncated_or_too_long(tmp_path, mnist_like, compress):
    images, labels = mnist_like
    write_idx(tmp_path / "lab", labels.astype(np.uint8))
    data = write_idx(tmp_path / "img", images).read_bytes()
    spec = {"format": "idx", "images": "img", "labels": "lab"}
    for bad, problem in ((data[:-100], "truncated"), (data + b"\0", "longer than its header")):
        (tmp_path / "img").write_bytes(gzip.compress(bad) if compress else bad)
        with raises_naming(tmp_path / "img", problem):
            D.load(spec, base_dir=tmp_path)
    (tmp_path / "img").write_bytes(data[:6])
    with raises_naming(tmp_path / "img", "truncated IDX header"):
        D.load(spec, base_dir=tmp_path)


def test_idx_cut_gzip_stream(tmp_path, mnist_like):
    images, labels = mnist_like
    write_idx(tmp_path / "lab", labels.astype(np.uint8))
    data = write_idx(tmp_path / "img", images, compress=True).read_bytes()
    (tmp_path / "img").write_bytes(data[: len(data) // 2])
    with raises_naming(tmp_path / "img", "corrupt or truncated gzip"):
        D.load({"format": "idx", "images": "img", "labels": "lab"}, base_dir=tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_huge_claimed_size_fails_fast(tmp_path, compress):
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2**31, 2**16, 2**16)  # claims 2**63 bytes
    data = header + b"\0" * 1000
    (tmp_path / "img").write_bytes(gzip.compress(data) if compress else data)
    write_idx(tmp_path / "lab", np.zeros(3, np.uint8))
    start = time.perf_counter()
    with raises_naming(tmp_path / "img", "claims 2147483648x65536x65536 uint8"):
        D.load({"format": "idx", "images": "img", "labels": "lab"}, base_dir=tmp_path)
    assert time.perf_counter() - start < 1.0


def test_idx_label_problems(tmp_path, mnist_like):
    images, labels = mnist_like
    write_idx(tmp_path / "img", images)
    write_idx(tmp_path / "lab", labels[:10].astype(np.uint8))
    spec = {"format": "idx", "images": "img", "labels": "lab"}
    with raises_naming(tmp_path / "img", "12 samples but targets have 10"):
        D.load(spec, base_dir=tmp_path)
    write_idx(tmp_path / "lab", np.full(12, 11, np.uint8))
    with raises_naming(tmp_path / "lab", "label 11 at sample 0 is outside 0..9"):
        D.load({**spec, "num_classes": 10}, base_dir=tmp_path)


# --- CIFAR-10 -----------------------------------------------------------------------------------


@pytest.fixture
def cifar_batches(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    batches = []
    for i in (1, 2):
        images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=5)
        write_cifar(folder / f"data_batch_{i}.bin", images, labels)
        batches.append((images, labels))
    return folder, batches


def test_cifar10_single_file_is_memory_mapped(cifar_batches):
    folder, [(images, labels), _] = cifar_batches
    ds = D.load({"format": "cifar10", "path": str(folder / "data_batch_1.bin")})
    assert ds.x.shape == (5, 3, 32, 32) and isinstance(ds.x.raw, np.memmap)
    np.testing.assert_allclose(np.asarray(ds.x), images / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.num_classes == 10 and ds.classes[0] == "airplane" and ds.classes[9] == "truck"


@pytest.mark.parametrize("as_list", [False, True])
def test_cifar10_folder_or_list_concatenates_batches(cifar_batches, as_list):
    folder, batches = cifar_batches
    paths = [str(folder / "data_batch_1.bin"), str(folder / "data_batch_2.bin")]
    ds = D.load({"format": "cifar10", "path": paths if as_list else str(folder), "scale": False})
    np.testing.assert_array_equal(np.asarray(ds.x), np.concatenate([b[0] for b in batches]))
    np.testing.assert_array_equal(ds.y, np.concatenate([b[1] for b in batches]))


def test_cifar10_bad_files(tmp_path):
    (tmp_path / "short.bin").write_bytes(b"\0" * 3000)
    with raises_naming(tmp_path / "short.bin", "not a whole number of 3073-byte"):
        D.load({"format": "cifar10", "path": str(tmp_path / "short.bin")})
    write_cifar(tmp_path / "c100.bin", np.zeros((2, 3, 32, 32), np.uint8), np.array([3, 42]))
    with raises_naming(tmp_path / "c100.bin", "label 42 at sample 1 is outside 0..9"):
        D.load({"format": "cifar10", "path": str(tmp_path / "c100.bin")})
    with raises_naming(tmp_path, "no data_batch"):
        D.load({"format": "cifar10", "path": str(tmp_path)})
