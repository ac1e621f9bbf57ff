"""The photo-folder pipeline alone: order, crops, resume position, bad files (issue 3)."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from transformnet.data import PhotoFolder, list_images


def folder_of(tmp_path, count=7, size=(40, 30)):
    rng = np.random.default_rng(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    for i in range(count):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        sub = tmp_path / ("a/b" if i % 2 else "a")
        mode = "L" if i == 3 else "RGB"  # a grayscale photo must come out with 3 channels
        Image.fromarray(array).convert(mode).save(sub / (f"{i}.png" if i % 3 == 0 else f"{i}.JPG"))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    return str(tmp_path / "a")


def test_lists_jpeg_and_png_recursively(tmp_path):
    root = folder_of(tmp_path)
    assert len(list_images(root)) == 7


def test_batches_are_uint8_squares_and_resume_exactly(tmp_path):
    root = folder_of(tmp_path)
    data = PhotoFolder(root, image_size=16, batch_size=3, seed=5, workers=2, holdout=1)
    batches = data.batches()
    first = [next(batches) for _ in range(3)]  # crosses an epoch boundary (6 photos)
    assert all(b.shape == (3, 16, 16, 3) and b.dtype == np.uint8 for b in first)
    state = data.state()
    assert state["epoch"] == 1
    expected = [next(batches) for _ in range(2)]
    batches.close()
    again = PhotoFolder(root, image_size=16, batch_size=3, seed=5, workers=1, holdout=1)
    again.restore(state)
    batches = again.batches()
    for batch in expected:
        np.testing.assert_array_equal(next(batches), batch)
    batches.close()


def test_a_resume_on_a_folder_whose_photos_changed_is_refused(tmp_path):
    """Photos added since the checkpoint changed the hold-out drawn from the folder: a former
    validation photo was trained on, with no word. A folder moved elsewhere still resumes."""
    from transformnet.data import DataError

    root = folder_of(tmp_path, count=10)
    state = PhotoFolder(root, image_size=16, batch_size=2, holdout=2).state()
    moved = tmp_path / "moved"
    os.rename(root, moved)
    PhotoFolder(str(moved), image_size=16, batch_size=2, holdout=2).restore(state)
    Image.new("RGB", (40, 30)).save(moved / "added.png")
    with pytest.raises(DataError, match=rf"^{moved}: holds 11 photos, not the 10 of the checkpoint; --resume needs the same photos"):
        PhotoFolder(str(moved), image_size=16, batch_size=2, holdout=2).restore(state)
    os.rename(moved / "0.png", moved / "renamed.png")
    (moved / "added.png").unlink()
    with pytest.raises(DataError, match="holds other photos than at the checkpoint"):
        PhotoFolder(str(moved), image_size=16, batch_size=2, holdout=2).restore(state)


def test_epochs_are_shuffled_differently_and_by_seed(tmp_path):
    root = folder_of(tmp_path, count=12)
    a = PhotoFolder(root, 16, 2, seed=1, holdout=1)
    b = PhotoFolder(root, 16, 2, seed=2, holdout=1)
    assert not np.array_equal(a.permutation(0), a.permutation(1))
    assert not np.array_equal(a.permutation(0), b.permutation(0))
    assert a.val_paths == b.val_paths  # the validation set does not depend on --seed


def test_unreadable_photo_warns_once_and_is_counted(tmp_path):
    root = folder_of(tmp_path)
    bad = os.path.join(root, "broken.jpg")
    with open(bad, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines = []
    data = PhotoFolder(root, 16, 2, seed=0, holdout=0, log=lines.append)
    batches = data.batches()
    for _ in range(12):  # three epochs of 7 good photos
        assert next(batches).shape == (2, 16, 16, 3)
    batches.close()
    assert data.skipped == 1
    assert len(lines) == 1 and "broken.jpg" in lines[0]


def test_empty_folder_is_one_clear_error(tmp_path):
    from transformnet.data import DataError

    with pytest.raises(DataError, match="found 0"):
        PhotoFolder(str(tmp_path), 16, 2)


def _identities(paths):
    return {(os.stat(p).st_dev, os.stat(p).st_ino) for p in paths}


def test_symlink_loops_and_links_count_each_real_photo_once(tmp_path):
    root = folder_of(tmp_path, count=12)
    photos = list_images(root)
    assert len(photos) == 12
    os.symlink(root, os.path.join(root, "b", "loop"))  # a/b/loop -> a: a loop
    os.symlink(os.path.join(root, "b"), os.path.join(root, "again"))  # the same folder twice
    os.symlink(photos[0], os.path.join(root, "alias.jpg"))
    os.link(photos[1], os.path.join(root, "hard_link.jpg"))
    (tmp_path / "a" / "._resource_fork.jpg").write_bytes(b"\0\5\26\7 macOS metadata")
    (tmp_path / "a" / ".thumbnails").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / ".thumbnails" / "t.jpg")
    listed = list_images(root)
    assert len(listed) == 12 and _identities(listed) == _identities(photos)
    data = PhotoFolder(root, 16, 2, holdout=2)
    assert len(data.paths) == 10 and len(data.val_paths) == 2
    assert not _identities(data.paths) & _identities(data.val_paths)


def test_small_folder_holds_out_a_fifth_at_most_and_says_what(tmp_path):
    root = folder_of(tmp_path, count=9)
    data = PhotoFolder(root, 16, 2, holdout=8)
    assert data.counts() == (8, 1)
    text = data.describe()
    assert "9 photos below" in text and "8 for training, 1 held out for validation" in text
    assert "not 8" in text and os.path.relpath(data.val_paths[0], root) in text
    assert PhotoFolder(root, 16, 2, holdout=0).counts() == (9, 0)
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (20, 20)).save(one / "only.png")
    assert PhotoFolder(str(one), 16, 2, holdout=8).counts() == (1, 0)


def test_unknown_tfds_dataset_is_one_line():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tfds needs TensorFlow; tested on the TensorFlow backend")
    pytest.importorskip("tensorflow_datasets")
    from transformnet.data import DataError, open_data

    with pytest.raises(DataError) as info:
        open_data("tfds:cocoo/2017", 16, 2, seed=0)
    message = str(info.value)
    assert message.startswith("tfds:cocoo/2017: ") and "did you mean coco" in message and "\n" not in message


def test_an_offline_tfds_download_names_the_host_it_could_not_reach():
    """The line ended mid-phrase at 160 characters, before the reason (no network)."""
    from transformnet.tfds_photos import _download_problem

    try:
        try:
            raise OSError("<urllib3.connection.HTTPConnection object at 0x7f>: Failed to resolve 'images.cocodataset.org' ([Errno -3] Temporary failure in name resolution)")
        except OSError as inner:
            raise ConnectionError("HTTPConnectionPool(host='images.cocodataset.org', port=80): Max retries exceeded with url: "
                                  "/annotations/image_info_test2017.zip (Caused by NameResolutionError(\"<urllib3.connection...") from inner
    except ConnectionError as error:
        assert _download_problem(error) == "cannot reach images.cocodataset.org: no network? Or give --data a folder of photos"
    assert _download_problem(ValueError("disk full\nmore")) == "disk full"


def _tfds_or_skip():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tfds needs TensorFlow; tested on the TensorFlow backend")
    return pytest.importorskip("tensorflow_datasets")


def _offline(monkeypatch):
    """No network, faked: every host name lookup fails at once, as offline (``lookups`` lists
    the names asked); tfds' downloader tries once instead of 10 times with backoff, so that an
    attempt to download without the check fails in seconds too (not ~3.5 minutes)."""
    import socket

    from tensorflow_datasets.core.download import downloader

    lookups = []

    def no_network(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(downloader, "MAX_RETRIES", 0)
    return lookups


def _tree(root):
    return sorted(os.path.relpath(os.path.join(folder, name), root) for folder, folders, files in os.walk(root) for name in folders + files)


_TINY = {}


def _tiny_photos(tfds):
    """A tfds dataset of three 8x8 photos, registered once as ``transformnet_tiny_photos``: its
    files come from https://photos.example/tiny.zip (what tfds reads from a checksums file) when
    ``fetch`` is set; without it, it prepares with no download at all."""
    if not _TINY:

        class TransformnetTinyPhotos(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")
            url_infos = {"https://photos.example/tiny.zip": None}
            fetch = False

            def _info(self):
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 3))}))

            def _split_generators(self, dl_manager):
                if self.fetch:
                    dl_manager.download("https://photos.example/tiny.zip")
                return {"train": self._generate_examples()}

            def _generate_examples(self):
                for i in range(3):
                    yield i, {"image": np.full((8, 8, 3), 40 * i, np.uint8)}

        _TINY["class"] = TransformnetTinyPhotos
    return _TINY["class"]


def test_an_offline_tfds_download_stops_at_once_says_so_in_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """It took ~3.5 minutes of urllib3 retries, progress bars and "Downloading and preparing"
    before the line, and left downloads/coco/*.tmp.*, downloads/extracted, coco/2017 and
    coco/.config/metadata.json in the data dir."""
    _tfds_or_skip()
    from transformnet.data import DataError
    from transformnet.tfds_photos import TfdsPhotos

    lookups = _offline(monkeypatch)
    data_dir = tmp_path / "tfds"
    with pytest.raises(DataError) as info:
        TfdsPhotos("coco/2017", 16, 2, data_dir=str(data_dir))
    assert str(info.value) == ("tfds:coco/2017: cannot download or prepare it "
                               "(cannot reach images.cocodataset.org: no network? Or give --data a folder of photos)")
    assert lookups == ["images.cocodataset.org"]  # the one check: tfds never started downloading
    assert not data_dir.exists()
    assert capsys.readouterr() == ("", "")


def test_a_prepared_tfds_dataset_needs_no_network(tmp_path, monkeypatch):
    """Any tfds dataset, not only coco: unprepared and offline it stops at the check, naming its
    host; once prepared, it is read without a single host name looked up."""
    import socket

    tfds = _tfds_or_skip()
    from transformnet.data import DataError
    from transformnet.tfds_photos import TfdsPhotos

    _tiny_photos(tfds)
    data_dir = tmp_path / "tfds"
    lookups = _offline(monkeypatch)
    with pytest.raises(DataError, match=r"cannot reach photos\.example: no network"):
        TfdsPhotos("transformnet_tiny_photos", 8, 2, holdout=1, data_dir=str(data_dir))
    assert not data_dir.exists()
    lookups.clear()
    with monkeypatch.context() as online:
        online.setattr(socket, "create_connection", lambda *args, **kwargs: socket.socket())  # the check connects
        TfdsPhotos("transformnet_tiny_photos", 8, 2, holdout=1, data_dir=str(data_dir))  # prepares (no file to fetch)
    assert lookups == []
    data = TfdsPhotos("transformnet_tiny_photos", 8, 2, holdout=1, data_dir=str(data_dir))
    batches = data.batches()
    assert next(batches).shape == (2, 8, 8, 3)
    batches.close()
    assert lookups == []


def test_a_failed_tfds_download_removes_only_what_it_made(tmp_path, monkeypatch):
    """A host that answers the check, then fails the download: tfds' unfinished download folder
    (never resumed) and the folders made for it go; what was there before stays, tfds' own
    junk of an earlier attempt included."""
    import socket

    tfds = _tfds_or_skip()
    from transformnet.data import DataError
    from transformnet.tfds_photos import TfdsPhotos

    monkeypatch.setattr(_tiny_photos(tfds), "fetch", True)
    _offline(monkeypatch)
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: socket.socket())  # the check connects
    data_dir = tmp_path / "tfds"
    earlier = data_dir / "downloads" / "transformnet_tiny_photos" / f"photos.example_tiny.zip.tmp.{'a' * 32}"
    earlier.mkdir(parents=True)
    (data_dir / "downloads" / "other" / "keep.zip").parent.mkdir()
    (data_dir / "downloads" / "other" / "keep.zip").write_bytes(b"a finished download of another dataset")
    before = _tree(data_dir)
    with pytest.raises(DataError, match=r"cannot reach photos\.example"):
        TfdsPhotos("transformnet_tiny_photos", 8, 2, holdout=1, data_dir=str(data_dir))
    assert _tree(data_dir) == before
    empty = tmp_path / "empty"
    with pytest.raises(DataError, match=r"cannot reach photos\.example"):
        TfdsPhotos("transformnet_tiny_photos", 8, 2, holdout=1, data_dir=str(empty / "tfds"))
    assert not empty.exists()


def test_the_network_check_waits_seconds_for_a_resolver_that_hangs(monkeypatch):
    """No DNS server answering: the check gives up after its time, not the resolver's; where
    requests would go through a proxy, the proxy is what must answer."""
    import socket
    import time

    tfds = _tfds_or_skip()
    from transformnet.tfds_photos import _download_addresses, _reachable

    import threading

    answer = threading.Event()

    def hangs(*args, **kwargs):  # until the test is over; then no such host, as a resolver would say
        answer.wait(30)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", hangs)
    start = time.monotonic()
    try:
        assert not _reachable([("photos.example", 443)], seconds=0.5)
        assert time.monotonic() - start < 5
    finally:
        answer.set()
    builder = tfds.builder(_tiny_photos(tfds).name, data_dir="/nonexistent/tfds")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.local:3128")
    assert _download_addresses(builder) == {("proxy.local", 3128): "the proxy proxy.local:3128"}
    monkeypatch.setenv("NO_PROXY", "photos.example")
    monkeypatch.setenv("no_proxy", "photos.example")
    assert _download_addresses(builder) == {("photos.example", 443): "photos.example"}


def test_folder_of_only_unreadable_photos_stops_with_one_error(tmp_path):
    from transformnet.data import DataError

    for i in range(3):  # three different files: byte-identical ones would count once
        (tmp_path / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg %d" % i)
    lines = []
    with pytest.raises(DataError, match="no readable photos"):
        PhotoFolder(str(tmp_path), 16, 2, holdout=0, log=lines.append)
    assert len(lines) == 3


def test_a_folder_whose_training_photos_are_all_unreadable_stops_when_opened(tmp_path):
    """Readable photos held out for validation, every training photo broken: the run built and
    compiled the train step (minutes on a GPU) before its first batch said "no readable photos".
    Opening reads training photos until one decodes, so it stops there; one that decodes ends
    the check, and the broken ones before it are skipped as training skips them."""
    from transformnet.data import DataError

    root = folder_of(tmp_path, count=5)
    held = PhotoFolder(root, 16, 2, holdout=1).val_paths
    for path in list_images(root):
        if path not in held:
            with open(path, "wb") as handle:
                handle.write(b"\xff\xd8\xff\xe0 broken " + os.path.basename(path).encode())
    lines = []
    with pytest.raises(DataError, match="no readable photos left to train on \\(1 held out for validation\\)"):
        PhotoFolder(root, 16, 2, holdout=1, log=lines.append)
    assert len(lines) == 4 and all("skipping unreadable photo" in line for line in lines)

    root = folder_of(tmp_path / "mixed", count=5)
    first = PhotoFolder(root, 16, 1, holdout=0)
    order = [first.paths[k] for k in first.permutation(0)]
    with open(order[0], "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 broken")
    lines = []
    data = PhotoFolder(root, 16, 1, holdout=0, log=lines.append)
    assert data.skipped == 1 and len(lines) == 1 and order[0] in lines[0]
    batches = data.batches()
    for _ in range(8):  # two epochs of the 4 readable photos: no second warning, no second count
        next(batches)
    batches.close()
    assert data.skipped == 1 and len(lines) == 1


def test_position_counts_items_over_epochs(tmp_path):
    """After ``g`` photos handed out, ``(epoch, index)`` is ``divmod(g, photos)``; every epoch is a
    new permutation."""
    root = folder_of(tmp_path, count=5)
    data = PhotoFolder(root, 16, 1, seed=7, holdout=0, workers=2)
    order = np.concatenate([data.permutation(0), data.permutation(1)])
    assert sorted(order[:5]) == list(range(5)) and not np.array_equal(order[:5], order[5:])
    batches = data.batches()
    for g in range(1, 8):
        next(batches)
        assert (data.epoch, data.index) == divmod(g, 5)
    batches.close()


def test_train_and_eval_take_the_same_files_as_photos(tmp_path):
    """One rule (images.PHOTO_SUFFIXES) for which files in a folder are photos: a folder that
    eval.py stylizes is a folder train.py can train on (it used to take JPEG/PNG only)."""
    from transformnet.images import PHOTO_SUFFIXES
    from transformnet.pipeline import expand_images

    for i, suffix in enumerate(PHOTO_SUFFIXES):
        (tmp_path / f"p{i}{suffix.upper() if i % 2 else suffix}").write_bytes(b"")
    for other in ("notes.txt", "clip.mp4", "IMG_0001.xmp", ".hidden.jpg"):
        (tmp_path / other).write_bytes(b"")
    photos = list_images(str(tmp_path))
    assert len(photos) == len(PHOTO_SUFFIXES) and ".webp" in PHOTO_SUFFIXES
    assert sorted(photos) == sorted(expand_images([str(tmp_path)])[0])


def _sha256(path):
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _with_copies(tmp_path):
    """10 photos, two BMPs of one size and one last 4 KiB but different, and a copy of two photos."""
    root = folder_of(tmp_path, count=10)
    base = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    other = base.copy()
    other[-1] = 0  # its bottom row only: BMP stores it first, so same size and same last 4 KiB
    Image.fromarray(base).save(os.path.join(root, "p.bmp"))
    Image.fromarray(other).save(os.path.join(root, "q.bmp"))
    shutil.copyfile(os.path.join(root, "p.bmp"), os.path.join(root, "b", "p copy.bmp"))
    shutil.copyfile(os.path.join(root, "0.png"), os.path.join(root, "0 copy.png"))  # listed before 0.png: kept
    return root


def test_byte_identical_copies_count_once(tmp_path):
    """IMG_1.jpg and "IMG_1 copy.jpg" weighed double and could be a validation and a training
    photo at once."""
    root = _with_copies(tmp_path)
    data = PhotoFolder(root, 16, 2, holdout=2)
    kept = data.paths + data.val_paths
    assert len(list_images(root)) == 14 and data.total == len(kept) == 12
    assert len({_sha256(p) for p in kept}) == 12  # no content twice, so none in both sets
    assert {"0 copy.png", "p.bmp", "q.bmp"} <= {os.path.basename(p) for p in kept}
    assert "12 photos below" in data.describe() and "(2 duplicates left out: byte-identical copies)" in data.describe()

    state = data.state()  # the resume fingerprint is over the distinct photos: one more copy changes nothing
    shutil.copyfile(os.path.join(root, "q.bmp"), os.path.join(root, "b", "q copy.bmp"))
    PhotoFolder(root, 16, 2, holdout=2).restore(state)


def test_only_files_sharing_a_size_are_read_to_find_copies(tmp_path, monkeypatch):
    """A COCO-sized folder costs little: files of a size of their own are not opened, and only
    those equal in size and last 4 KiB are hashed whole."""
    from collections import Counter

    from transformnet import data as data_module

    root = _with_copies(tmp_path)
    listed = list_images(root)
    read, hashed = [], []
    tail, sha256 = data_module._tail, data_module._sha256
    monkeypatch.setattr(data_module, "_tail", lambda path: read.append(path) or tail(path))
    monkeypatch.setattr(data_module, "_sha256", lambda path: hashed.append(os.path.basename(path)) or sha256(path))
    kept, copies = data_module.distinct_photos(listed)
    sizes = Counter(os.path.getsize(p) for p in listed)
    assert sorted(read) == sorted(p for p in listed if sizes[os.path.getsize(p)] > 1) and len(read) < len(listed)
    assert sorted(hashed) == ["0 copy.png", "0.png", "p copy.bmp", "p.bmp", "q.bmp"]
    assert copies == 2 and kept == [p for p in listed if os.path.basename(p) not in ("0.png", "p copy.bmp")]
    empty = [str(tmp_path / "e1.jpg"), str(tmp_path / "e2.jpg")]
    for path in empty:  # empty files are not photos: each is kept, to be named when it fails to decode
        open(path, "wb").close()
    assert data_module.distinct_photos(empty) == (empty, 0)


def test_an_unreadable_validation_photo_is_replaced_by_the_next_candidate(tmp_path):
    """The hold-out was drawn before reading and an unreadable photo dropped: validation had fewer
    photos than asked and the console line over-counted. Now the next candidate in the fixed
    order takes its place; the unreadable one is not trained on either (one warning in all)."""
    from transformnet.data import HOLDOUT_SEED, DataError

    root = folder_of(tmp_path, count=12)
    paths = list_images(root)
    candidates = [paths[k] for k in np.random.default_rng(HOLDOUT_SEED).permutation(len(paths))]
    broken = candidates[0]
    with open(broken, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines = []
    data = PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lines.append)
    assert sorted(data.val_paths) == sorted(candidates[1:3]) and broken not in data.paths
    assert data.validation_images().shape == (2, 16, 16, 3)
    assert data.skipped == 1 and len(lines) == 1 and broken in lines[0]
    assert "12 photos below" in data.describe() and "9 for training, 1 unreadable, 2 held out for validation" in data.describe()
    batches = data.batches()
    for _ in range(10):  # two epochs of the 9 training photos
        next(batches)
    batches.close()
    assert len(lines) == 1 and data.skipped == 1

    state = data.state()
    again = PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lines.append)
    assert (again.val_paths, again.paths) == (data.val_paths, data.paths)
    again.restore(state)
    shards = [PhotoFolder(root, 16, 2, holdout=2, shard=(i, 3), log=lines.append) for i in range(3)]
    assert [s.skipped for s in shards] == [1, 0, 0] and len(lines) == 3  # one report of the shared hold-out
    assert all(s.val_paths == data.val_paths for s in shards)

    # A resume takes the checkpoint's split, whatever became readable or unreadable since: the
    # repaired photo stays out, and a validation photo broken since is left out of validation
    # (not replaced from the training photos, which would shift every position).
    Image.new("RGB", (40, 30)).save(broken, format="JPEG")
    with open(data.val_paths[0], "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 broken since")
    resumed = PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lines.append)
    assert resumed.val_paths != data.val_paths
    resumed.restore(state)
    assert resumed.paths == data.paths and resumed.val_paths == data.val_paths[1:]
    assert resumed.validation_images().shape == (1, 16, 16, 3) and (resumed.epoch, resumed.index) == (data.epoch, data.index)


def test_broken_files_among_few_photos_lower_the_hold_out_instead_of_taking_every_readable_one(tmp_path):
    """12 files of which 2 readable, those last in the hold-out order: the scan took both for
    validation past 9 broken ones and left nothing to train on (the old rule trained on them).
    Each broken candidate lowers the count as it lowers the photos there are."""
    from transformnet.data import HOLDOUT_SEED

    order = np.random.default_rng(HOLDOUT_SEED).permutation(12).tolist()
    for rank, k in enumerate(order):
        if rank < 10:
            (tmp_path / f"{k:02d}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg %d" % k)
        else:
            Image.new("RGB", (40, 30), (k, 0, 0)).save(tmp_path / f"{k:02d}.jpg")
    data = PhotoFolder(str(tmp_path), 16, 2, holdout=8, log=lambda line: None)
    readable = [str(tmp_path / f"{k:02d}.jpg") for k in order[10:]]
    assert data.val_paths == [] and set(readable) <= set(data.paths)
    batch = next(data.batches())
    assert batch.shape == (2, 16, 16, 3)


def test_a_checkpoint_from_before_the_split_was_saved_resumes_with_the_rule_it_was_drawn_by(tmp_path):
    """Its state has no split: the first photos of the fixed order were held out, readable or
    not; a folder with copies was listed differently then, which is said in one line."""
    from transformnet.data import DataError

    root = folder_of(tmp_path, count=10)
    data = PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lambda line: None)
    old = {k: v for k, v in data.state().items() if k not in ("validation", "unreadable_candidates")}
    again = PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lambda line: None)
    again.restore(old)
    assert (again.val_paths, again.paths) == (data.val_paths, data.paths)
    copy = os.path.join(root, "zz_copy.jpg")
    with open(data.paths[0], "rb") as source, open(copy, "wb") as target:
        target.write(source.read())
    old["photos"], old["photos_sha256"] = 11, "from the old listing"
    with pytest.raises(DataError, match="from an older transformnet, which counted byte-identical copies"):
        PhotoFolder(root, 16, 2, seed=3, holdout=2, log=lambda line: None).restore(old)


def test_a_resume_whose_split_differs_from_the_one_drawn_at_opening_trains_on_the_same_photos(tmp_path):
    """Opening reads the first training photo (and skips broken ones) in the split it draws; a
    resume then takes the checkpoint's split, whose list of training photos can differ (a
    validation photo broken since: the next candidate is not held out, so it is trained on).
    The photo cached and the broken ones found at opening were kept under their positions in
    the first list: the resumed run trained on another photo in their place, or skipped it."""
    root = folder_of(tmp_path, count=15)
    data = PhotoFolder(root, 16, 1, seed=0, holdout=2, log=lambda line: None)
    state = data.state()
    batches = data.batches()
    expected = [next(batches) for _ in range(13)]  # an epoch of the 13 training photos
    batches.close()
    with open(data.val_paths[0], "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 broken since")
    resumed = PhotoFolder(root, 16, 1, seed=0, holdout=2, log=lambda line: None)
    first = int(resumed.permutation(0)[0])
    opened = resumed.paths[first]  # read and cached at opening
    resumed.restore(state)
    assert resumed.paths == data.paths and resumed.paths[first] != opened  # the lists differ there
    batches = resumed.batches()
    for batch in expected:
        np.testing.assert_array_equal(next(batches), batch)
    batches.close()

    # A training photo broken since, the first read at opening: skipped under its own position.
    broken = opened
    with open(broken, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 broken since too")
    lines = []
    again = PhotoFolder(root, 16, 1, seed=0, holdout=2, log=lines.append)
    again.restore(state)
    assert [again.paths[k] for k in again.bad] == [broken] and again.skipped == data.skipped + 1
    assert len(lines) == 2 and broken in lines[-1]
