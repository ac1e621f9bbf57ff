"""Training photos from tensorflow-datasets, ``--data tfds:coco/2017`` (MS-COCO, the paper's data).

Kept apart from ``data`` (the photo folder) because only this path needs TensorFlow: it is
imported when ``--data`` starts with ``tfds:``. Hand-written beyond ``tfds.builder`` for two
reasons tfds has no setting for: offline, tfds retries each file for minutes before it fails
(``_check_network_first`` stops in seconds), and a failed attempt leaves unfinished folders that
tfds never resumes (``_undo_leftovers``).
"""

import os
import sys

import numpy as np

from . import config
from .data import DataError, centre_crop, crop, resize_short_side


class TfdsPhotos:
    """Photos from a tensorflow-datasets dataset, ``--data tfds:coco/2017`` (needs TensorFlow).

    tensorflow_datasets is imported only here, so the folder path never loads TensorFlow. Order:
    the split is shuffled per epoch with ``(seed, epoch)`` (a shuffle buffer, as tf.data offers);
    the first ``holdout`` examples of the split (unshuffled) are the validation set and are
    skipped in training. Resume skips ``index`` examples of the epoch's shuffled stream.
    ``shard=(index, count)`` keeps every ``count``-th remaining example (``tf.data`` ``shard``).
    """

    def __init__(
        self,
        name,
        image_size=config.IMAGE_SIZE,
        batch_size=config.BATCH_SIZE,
        seed=0,
        holdout=config.VALIDATION_PHOTOS,
        split="train",
        data_dir=None,
        shuffle_buffer=10_000,
        log=None,
        shard=(0, 1),
    ):
        try:
            import tensorflow_datasets as tfds  # lazy: TensorFlow only for tfds users
        except ImportError:
            raise DataError(f"tfds:{name}: needs tensorflow-datasets (pip install tensorflow-datasets)") from None

        self.tfds = tfds
        self.builder = _tfds_builder(tfds, name, split, data_dir)
        self.name = name
        self.split = split
        self.data_dir = data_dir
        self.size = int(image_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.holdout = int(holdout)
        self.shuffle_buffer = shuffle_buffer
        self.shard = (int(shard[0]), int(shard[1]))
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.epoch = 0
        self.index = 0
        self.skipped = 0

    def describe(self):
        return f"tfds:{self.name} split {self.split} (first {self.holdout} held out for validation)"

    def counts(self):
        """(distinct training examples of this process's shard, or None if tfds does not know;
        examples held out). The shards' counts add up to the split's."""
        split = self.builder.info.splits.get(self.split) if self.builder.info.splits else None
        total = getattr(split, "num_examples", None)
        index, count = self.shard
        return (len(range(index, max(0, total - self.holdout), count)) if total else None), self.holdout

    def state(self):
        return {"epoch": self.epoch, "index": self.index, "skipped": self.skipped}

    def restore(self, state):
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self.skipped = int(state.get("skipped", 0))

    def _dataset(self):
        return self.builder.as_dataset(split=self.split, shuffle_files=False)

    def _prepare(self, example, rng):
        image = np.asarray(example["image"])
        if image.ndim == 2:
            image = image[:, :, None]
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        return np.ascontiguousarray(crop(resize_short_side(image[:, :, :3].astype(np.uint8), self.size), self.size, rng))

    def batches(self):
        batch = []
        while True:
            ds = self._dataset().skip(self.holdout).shard(self.shard[1], self.shard[0])
            ds = ds.shuffle(self.shuffle_buffer, seed=self.seed * 1_000_003 + self.epoch, reshuffle_each_iteration=False)
            epoch, count = self.epoch, 0
            for i, example in enumerate(self.tfds.as_numpy(ds.skip(self.index)), start=self.index):
                count += 1
                try:
                    batch.append(self._prepare(example, np.random.default_rng([self.seed, epoch, i])))
                except Exception as error:  # noqa: BLE001 - one bad example never stops a run
                    self.skipped += 1
                    self.log(f"warning: skipping unreadable example {i} of tfds:{self.name}: {error}")
                    continue
                if len(batch) == self.batch_size:
                    self.index = i + 1
                    yield np.stack(batch)
                    batch = []
            if count == 0 and self.index == 0:
                raise DataError(f"tfds:{self.name}: no examples in split {self.split}")
            self.epoch, self.index = epoch + 1, 0

    def validation_images(self):
        ds = self._dataset().take(self.holdout)
        arrays = []
        for example in self.tfds.as_numpy(ds):
            image = np.asarray(example["image"])
            if image.ndim == 2 or image.shape[-1] == 1:
                image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=-1)
            arrays.append(centre_crop(resize_short_side(image[:, :, :3].astype(np.uint8), self.size), self.size))
        return np.stack(arrays) if arrays else np.zeros((0, self.size, self.size, 3), np.uint8)


def _offline_hint(host):
    return f"cannot reach {host}: no network? Or give --data a folder of photos"


def _download_problem(error):
    """What stopped a tfds download, in a few words. Offline, the error is requests' text around
    urllib3's ("HTTPConnectionPool(host=...): Max retries exceeded ... (Caused by
    NameResolutionError(\"<...>: Failed to resolve 'images.cocodataset.org' ..."), whose reason
    came after the first 160 characters: the host is named instead; otherwise the innermost
    exception's first line."""
    import re

    chain = [error]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    text = " ".join(str(e) for e in chain)
    host = re.search(r"Failed to resolve '([^']+)'", text) or re.search(r"host='([^']+)'", text)
    if host and re.search(r"resolve|Name or service not known|name resolution|Max retries|timed out|refused", text):
        return _offline_hint(host.group(1))
    first = (str(chain[-1]).strip().splitlines() or [type(chain[-1]).__name__])[0]
    return first[:200]


PROBE_SECONDS = 5.0
"""How long the check before a tfds download waits, in all, for one of the dataset's hosts to
accept a connection. Offline, tfds itself retries each file 10 times with backoff (urllib3, about
3.5 minutes for coco) before it fails."""


def _tfds_temp(entry):
    """Whether ``entry`` (a file name) is one of tfds' own names for unfinished work: a file being
    downloaded (DownloadManager, ``NAME.tmp.<uuid hex>``), an archive being extracted or a dataset
    being prepared (``incomplete.*``). tfds never resumes them (each attempt takes a new name), so
    one that an attempt made is junk once it has failed."""
    import re

    return bool(re.search(r"\.tmp\.[0-9a-f]{32}$|^incomplete\.", entry))


def _download_addresses(builder):
    """``{(host, port): shown name}`` that downloading ``builder``'s files connects to: the hosts
    of the URLs in its checksums file (``url_infos``, every config's), or the proxy that requests
    (tfds' downloader) would use for them (``HTTP(S)_PROXY``, ``NO_PROXY``). Empty where tfds
    does not know the URLs (no checksums file)."""
    from urllib.parse import urlsplit

    import requests.utils

    ports = {"http": 80, "https": 443, "ftp": 21}
    addresses = {}
    for url in sorted(builder.url_infos or ()):
        proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
        if proxy and "://" not in proxy:
            proxy = "http://" + proxy  # requests' reading of a bare host:port
        parts = urlsplit(proxy or url)
        if parts.hostname and parts.scheme in ports:
            address = (parts.hostname, parts.port or ports[parts.scheme])
            addresses.setdefault(address, parts.hostname if not proxy else f"the proxy {parts.netloc}")
    return addresses


def _reachable(addresses, seconds=PROBE_SECONDS):
    """Whether one of ``addresses`` ((host, port) pairs) accepts a TCP connection within ``seconds``
    in all. Each runs in a daemon thread: a resolver that hangs (no DNS server answers) neither
    holds the answer past ``seconds`` nor keeps the process alive at exit."""
    import queue
    import socket
    import threading
    import time

    answers = queue.Queue()

    def probe(address):
        try:
            socket.create_connection(address, timeout=seconds).close()
            answers.put(True)
        except OSError:  # gaierror (no DNS), refused, unreachable, timeout
            answers.put(False)

    for address in addresses:
        threading.Thread(target=probe, args=(address,), daemon=True, name=f"probe {address[0]}").start()
    deadline = time.monotonic() + seconds
    for _ in addresses:
        try:
            if answers.get(timeout=max(0.0, deadline - time.monotonic())):
                return True
        except queue.Empty:
            return False
    return False


def _check_network_first(builder, name):
    """Makes ``builder.download_and_prepare`` stop at once, before it prints or creates anything,
    when none of the dataset's download hosts can be reached (DataError naming one).

    The check runs in ``_log_download_bytes``, which tfds calls exactly when it is about to
    download and prepare (after finding the dataset is not prepared, before its download
    manager, folders and progress bars): a prepared dataset never meets it, nor does
    ``tfds.testing.mock_data``. It is left out where the dataset's files may come without the
    network: manual downloads, or downloads of this dataset already in the download folder
    (tfds reuses them). Where tfds lacks that method (another version), tfds' own retries stay."""
    log = getattr(builder, "_log_download_bytes", None)
    if log is None:
        return

    def check_then_log():
        downloads = os.path.join(os.fspath(builder.data_dir_root), "downloads", builder.name)
        cached = os.path.isdir(downloads) and any(not _tfds_temp(entry) for entry in os.listdir(downloads))
        addresses = {} if builder.MANUAL_DOWNLOAD_INSTRUCTIONS or cached else _download_addresses(builder)
        if addresses and not _reachable(list(addresses)[:16]):
            raise DataError(f"tfds:{name}: cannot download or prepare it ({_offline_hint(next(iter(addresses.values())))})")
        log()

    builder._log_download_bytes = check_then_log


def _undo_leftovers(builder):
    """A function that removes what a failed ``builder.download_and_prepare()`` left behind and
    did not exist when ``_undo_leftovers`` was called: tfds' unfinished downloads, extractions and
    dataset folders (``_tfds_temp``), the dataset's ``.config/metadata.json``
    and the folders it made that are now empty. Kept: everything that was there before (a user's
    data, another dataset's files) and finished downloads (tfds reuses them on the next attempt,
    which then needs no network for them). Only local data dirs (not ``gs://``)."""
    root = os.fspath(builder.data_dir_root)
    if "://" in root:
        return lambda: None
    data = os.fspath(builder.data_path)
    downloads = os.path.join(root, "downloads")
    scanned = [os.path.join(downloads, builder.name), os.path.join(downloads, "extracted"), os.path.dirname(data)]
    config = os.path.join(os.path.dirname(os.path.dirname(data)), ".config")
    folders = {config, *scanned, downloads}
    folder = data
    while folder != os.path.dirname(folder):  # the dataset's folders, the root and its parents
        folders.add(folder)
        folder = os.path.dirname(folder)
    candidates = folders | {os.path.join(config, "metadata.json")}
    existed = {path for path in candidates if os.path.lexists(path)}
    listed = {folder: set(os.listdir(folder)) if os.path.isdir(folder) else set() for folder in scanned}

    def undo():  # never in the way of the error that made it run: what cannot go stays
        import contextlib
        import shutil

        for folder, before in listed.items():
            for entry in sorted(set(os.listdir(folder)) - before) if os.path.isdir(folder) else ():
                path = os.path.join(folder, entry)
                if _tfds_temp(entry) and os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif _tfds_temp(entry):
                    with contextlib.suppress(OSError):
                        os.remove(path)
        metadata = os.path.join(config, "metadata.json")
        with contextlib.suppress(OSError):
            if metadata not in existed and os.path.isfile(metadata):
                os.remove(metadata)
        for folder in sorted(folders - existed, key=len, reverse=True):  # deepest first
            with contextlib.suppress(OSError):
                if os.path.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)

    return undo


def _tfds_builder(tfds, name, split, data_dir):
    """The prepared tfds builder for ``name``, or DataError: an unknown name (with the closest
    known ones), a failed download or a missing split is found before any model is built.

    Offline, preparing a dataset that is not prepared yet stops within ``PROBE_SECONDS``
    (``_check_network_first``); a failed or interrupted attempt leaves nothing it made behind
    (``_undo_leftovers``)."""
    import difflib

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # noqa: BLE001 - DatasetNotFoundError, bad config or version
        known = tfds.list_builders()
        close = difflib.get_close_matches(name.split("/")[0], known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see https://www.tensorflow.org/datasets/catalog"
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(f"tfds:{name}: {first[:120]}{hint}") from None
    _check_network_first(builder, name)
    undo = _undo_leftovers(builder)
    try:
        builder.download_and_prepare()
    except BaseException as error:  # also Ctrl-C: tfds never resumes what it had not finished
        undo()
        if isinstance(error, DataError) or not isinstance(error, Exception):
            raise
        raise DataError(f"tfds:{name}: cannot download or prepare it ({_download_problem(error)})") from None
    splits = builder.info.splits
    if splits and split not in splits:
        raise DataError(f"tfds:{name}: has no split {split!r} (it has {', '.join(sorted(splits))})")
    return builder
