"""data.py: folder and torchvision datasets, caching, layout errors, device-side augmentation."""
import pickle

import numpy as np
import pytest
import torch
import torchvision
import torchvision.transforms.functional as TF
from conftest import CLASSES, make_image_folder, run_script
from PIL import Image

import data
from files import FileError


def test_folder_dataset_loads_labels_and_shapes(image_folder, tmp_path):
    ds = data.load_dataset(f"folder:{image_folder}", tmp_path)
    assert ds.classes == CLASSES
    assert ds.train_x.shape == (36, 16, 16, 3) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape == (12, 16, 16, 3)
    np.testing.assert_array_equal(np.bincount(ds.train_y), [12, 12, 12])
    # Labels follow the folders: class k images are dominated by channel k.
    assert all(ds.train_x[ds.train_y == k].mean((0, 1, 2)).argmax() == k for k in range(3))


def test_cache_is_reused_and_invalidated_when_files_change(image_folder, tmp_path, monkeypatch):
    first = data.load_dataset(f"folder:{image_folder}", tmp_path)
    def decode_again(*args):
        raise LookupError("decoded twice")
    monkeypatch.setattr(data, "_decode_image_folder", decode_again)
    np.testing.assert_array_equal(data.load_dataset(f"folder:{image_folder}", tmp_path).train_x, first.train_x)
    copy = make_image_folder(tmp_path / "copy")
    (copy / "train" / "cat" / "000.png").unlink()
    with pytest.raises(LookupError, match="decoded twice"):  # changed listing -> new cache key
        data.load_dataset(f"folder:{copy}", tmp_path)


def test_channel_stats_match_numpy(image_folder, tmp_path):
    ds = data.load_dataset(f"folder:{image_folder}", tmp_path)
    mean, std = ds.channel_stats()
    pixels = ds.train_x.reshape(-1, 3) / 255
    np.testing.assert_allclose(mean, pixels.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, pixels.std(0), rtol=1e-4)


@pytest.mark.parametrize("damage, message", [
    (lambda root: __import__("shutil").rmtree(root / "test"), "no 'test/' folder"),
    (lambda root: __import__("shutil").rmtree(root / "test" / "dog"), "same class folders"),
    (lambda root: Image.new("RGB", (20, 16)).save(root / "train" / "dog" / "999.png"), "expected 16x16"),
])
def test_bad_folder_layouts_give_clear_errors(tmp_path, damage, message):
    root = make_image_folder(tmp_path / "bad")
    damage(root)
    with pytest.raises(FileError, match=message):
        data.load_dataset(f"folder:{root}", tmp_path / "cache")


def test_unknown_dataset_name():
    with pytest.raises(FileError, match="unknown dataset"):
        data.load_dataset("imagenet")


def write_fake_cifar10(root, n_per_batch=6):
    """The cifar-10-batches-py layout torchvision reads, with random pixels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": list(rng.integers(0, 10, n_per_batch))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return folder


def test_torchvision_cifar_is_read_and_cached(tmp_path, monkeypatch):
    folder = write_fake_cifar10(tmp_path)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)  # fake md5s
    ds = data.load_dataset("cifar10", tmp_path)
    assert ds.train_x.shape == (30, 32, 32, 3) and ds.test_x.shape == (6, 32, 32, 3)
    assert ds.num_classes == 10
    raw = pickle.loads((folder / "data_batch_1").read_bytes())
    np.testing.assert_array_equal(ds.train_x[0], raw["data"][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert (tmp_path / "cache" / "cifar10.npz").is_file()


def test_missing_cifar_without_network_names_the_folder(tmp_path, monkeypatch):
    def no_network(self, *args, **kwargs):
        raise RuntimeError("network unreachable")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", no_network)
    with pytest.raises(FileError, match=f"cifar10: could not load or download it into {tmp_path}") as error:
        data.load_dataset("cifar10", tmp_path)
    # ... and how to go on offline: the archive's name and where it goes, or an image folder
    assert "put cifar-10-python.tar.gz (from https://" in str(error.value)
    assert f"into {tmp_path}, or use --dataset folder:PATH" in str(error.value)


# Run in several processes at once: torchvision's download, replaced by a slow in-place copy of a
# local fake archive (as torchvision writes it), then its real extraction and reading.
CONCURRENT_LOAD = """
import shutil, sys, time
import torchvision.datasets.cifar as cifar
import torchvision.datasets.utils as utils
import data

def slow_download(url, root, filename=None, md5=None, **kwargs):
    with open(sys.argv[2], "rb") as src, open(f"{root}/{filename}", "wb") as dst:
        for chunk in iter(lambda: src.read(65536), b""):
            dst.write(chunk)
            dst.flush()
            time.sleep(0.2)

utils.download_url = slow_download
cifar.check_integrity = lambda path, md5=None: __import__("os").path.isfile(path)  # fake md5s
ds = data.load_dataset("cifar10", sys.argv[1])
print(ds.train_x.sum(), len(ds.train_y))
"""


def test_concurrent_first_loads_take_turns_and_agree(tmp_path):
    import subprocess
    import sys
    import tarfile

    from conftest import ROOT

    write_fake_cifar10(tmp_path / "src", n_per_batch=40)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    script = tmp_path / "load.py"
    script.write_text(CONCURRENT_LOAD)
    root = tmp_path / "data"
    env = dict(__import__("os").environ, PYTHONPATH=str(ROOT))
    processes = [subprocess.Popen([sys.executable, str(script), str(root), str(archive)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in processes]
    assert all(code == 0 for _, _, code in results), [err[-500:] for _, err, _ in results]
    assert len({out.splitlines()[-1] for out, _, _ in results}) == 1  # the same images in every process
    assert sum("decoding the images" in out for out, _, _ in results) == 1  # decoded by one of them


def test_crop_flip_equals_torchvision_pad_crop_flip():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    tops, lefts = torch.tensor([0, 8, 3, 4, 8, 1]), torch.tensor([0, 8, 5, 4, 0, 7])
    flips = torch.tensor([False, True, False, True, True, False])
    out = data.crop_flip(images, tops, lefts, flips)
    for i in range(6):
        reference = TF.crop(TF.pad(images[i], 4, fill=0), int(tops[i]), int(lefts[i]), 32, 32)
        if flips[i]:
            reference = TF.hflip(reference)
        torch.testing.assert_close(out[i], reference)


def test_random_crop_flip_covers_all_offsets_uniformly():
    g = torch.Generator().manual_seed(0)
    # Put a single bright pixel at the image centre and see where each crop moves it.
    images = torch.zeros(9000, 3, 9, 9, dtype=torch.uint8)
    images[:, :, 4, 4] = 255
    out = data.random_crop_flip(images, g)
    rows = out[:, 0].amax(2).argmax(1)
    shifts = torch.bincount(rows, minlength=9).float()
    assert (shifts > 0).all() and (shifts.max() / shifts.min()) < 1.25  # 9 offsets, ~1000 each
    # Flips: with an off-centre pixel, about half the crops show it mirrored.
    images[:, :, 4, 4] = 0
    images[:, :, 4, 0] = 255
    out = data.random_crop_flip(images, g, padding=0)
    assert 0.47 < (out[:, 0, 4, 8] == 255).float().mean() < 0.53


def test_draw_initial_is_seeded_and_nested_in_universe():
    universe, labeled = data.draw_initial(1000, 0.1, seed=3, universe_size=200)
    assert len(universe) == 200 and len(labeled) == 20
    assert np.isin(labeled, universe).all()
    u2, l2 = data.draw_initial(1000, 0.1, seed=3, universe_size=200)
    np.testing.assert_array_equal(labeled, l2)
    assert not np.array_equal(labeled, data.draw_initial(1000, 0.1, seed=4, universe_size=200)[1])


def cache_file(root):
    [cache] = (root / "cache").glob("*.npz")
    return cache


@pytest.mark.parametrize("damage", [
    lambda cache: cache.write_bytes(b""),
    lambda cache: cache.write_bytes(b"PK\x03\x04 not a zip archive"),
    lambda cache: cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2]),
    lambda cache: cache.write_bytes(cache.read_bytes()[:3000] + b"\xff" * 64 + cache.read_bytes()[3064:]),  # CRC
    lambda cache: np.savez(cache, train_x=np.zeros(3)),
], ids=["empty", "garbage", "truncated", "flipped-bytes", "wrong-arrays"])
def test_a_damaged_cache_is_decoded_again(image_folder, tmp_path, capsys, damage):
    first = data.load_dataset(f"folder:{image_folder}", tmp_path)
    damage(cache_file(tmp_path))
    again = data.load_dataset(f"folder:{image_folder}", tmp_path)
    assert f"{cache_file(tmp_path)}: damaged" in capsys.readouterr().out
    np.testing.assert_array_equal(again.train_x, first.train_x)
    np.testing.assert_array_equal(again.test_y, first.test_y)
    with np.load(cache_file(tmp_path)) as z:  # and the cache is whole again
        np.testing.assert_array_equal(z["train_x"], first.train_x)


def truncated_png(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def broken_link(path):
    path.symlink_to(path.parent / "nowhere.png")


@pytest.mark.parametrize("make_bad_file, message", [
    (lambda path: path.write_bytes(b""), "empty file (0 bytes)"),
    (truncated_png, "not a readable image"),
    (lambda path: path.write_text("a text file named like an image"), "not a readable image"),
    (lambda path: path.mkdir(), "a folder named like an image"),
    (broken_link, "a broken link named like an image"),
    (lambda path: Image.fromarray(np.full((16, 16), 70000, np.int32)).save(path.with_suffix(".tif")),
     "I pixels (32-bit); expected 8- or 16-bit images"),
], ids=["empty", "truncated", "not-an-image", "folder", "broken-link", "32-bit"])
def test_a_bad_file_in_an_image_folder_is_one_line_naming_it(tmp_path, make_bad_file, message):
    root = make_image_folder(tmp_path / "bad")
    bad = root / "train" / "dog" / "005.png"
    bad.unlink()
    make_bad_file(bad)
    with pytest.raises(FileError) as error:
        data.load_dataset(f"folder:{root}", tmp_path / "cache")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(f"{root / 'train' / 'dog' / '005.'}")  # names the file
    result = run_script("data.py", "initial", "--dataset", f"folder:{root}", "--data-root", tmp_path / "cache",
                        "--seed", "0", "--out", tmp_path / "init", check=False)
    assert result.returncode == 2 and result.stderr == f"error: {error.value}\n"


def test_16_bit_grayscale_pngs_keep_their_shades(tmp_path):
    """Pillow's convert("RGB") clips 16-bit values at 255: this image would turn almost all white."""
    root = make_image_folder(tmp_path / "deep")
    shades = np.arange(256, dtype=np.uint16).reshape(16, 16) * 257  # 0, 257, ..., 65535: 8-bit k -> k * 257
    shades[0, :4] = [1, 255, 256, 65534]                              # -> 0, 0, 1, 255 (the high byte)
    path = root / "train" / "cat" / "000.png"
    Image.fromarray(shades).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"  # a real 16-bit grayscale PNG
    ds = data.load_dataset(f"folder:{root}", tmp_path / "cache")
    expected = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected[0, :4] = [0, 0, 1, 255]
    for channel in range(3):
        np.testing.assert_array_equal(ds.train_x[0, :, :, channel], expected)
