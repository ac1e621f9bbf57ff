"""grain (the JAX ecosystem's loader) against transformnet's thread-pool photo pipeline (issue 11).

    python benchmarks/data_grain.py --data ../shared/photos --batch-size 16 --image-size 256
    python benchmarks/data_throughput.py --grain   # GrainPhotoFolder, first and cached epochs

``GrainPhotoFolder`` is the trainer's ``PhotoFolder`` with its thread pool replaced by grain and
every guarantee kept (same order and crops, so the same batches; unreadable photos filtered
before batching; ``(epoch, index)`` = ``divmod(next_index, photos)``): the form grain would take
in ``data.py``. It measured slower than the thread pool (RESULTS.md), so ``data.py`` keeps the
thread pool and this class lives here, where the comparison can be rerun.

Both decode the same photos with the same function (``data.decode_photo``: JPEG draft, shorter
side to the training size) and a random square crop, and are timed over ``--images`` images from
a cold start (no decoded-photo cache: the first-epoch cost, which is what a COCO-sized set pays
when it does not fit in RAM). Configurations: transformnet's ``PhotoFolder`` with its RAM cache
disabled and N threads; grain ``MapDataset -> to_iter_dataset`` with N threads; grain
``mp_prefetch`` with N worker processes. Also checked for grain: exact resume
(``get_state``/``set_state`` gives the same next batches) and disjoint per-process shards
(``dataset[i::n]``). Prints one JSON line per configuration.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from transformnet.data import PhotoFolder, crop, decode_photo  # noqa: E402


class GrainPhotoFolder(PhotoFolder):
    """``PhotoFolder`` on grain: item ``g`` of ``MapDataset.range(n).repeat()`` is photo
    ``permutation(epoch)[index]``, ``epoch, index = divmod(g, n)``, decoded and cropped in
    grain's threads (``PhotoFolder._load``); a ``filter`` drops unreadable photos in order
    (``PhotoFolder._skip``); then full batches."""

    def _load_item(self, g, _):
        epoch, i = divmod(g, len(self.paths))
        k = int(self.permutation(epoch)[i])
        if k in self.bad:
            return k, None, None
        return (k, *self._load(epoch, i, k))

    def _readable(self, item):
        k, array, problem = item
        if array is None:
            self._skip(k, problem)
            return False
        return True

    def batches(self):
        import functools

        import grain

        self.permutation = functools.lru_cache(maxsize=4)(self.permutation)  # shared by grain's threads
        options = grain.ReadOptions(num_threads=self.workers, prefetch_buffer_size=self.prefetch)
        dataset = (
            grain.MapDataset.range(len(self.paths)).repeat().map_with_index(self._load_item)
            .to_iter_dataset(options).filter(self._readable)
            .batch(self.batch_size, drop_remainder=True, batch_fn=lambda items: np.stack([a for _, a, _ in items]))
        )
        iterator = iter(dataset)
        n = len(self.paths)
        iterator.set_state({"next_index": self.epoch * n + self.index})
        try:
            while True:
                batch = next(iterator)
                self.epoch, self.index = divmod(iterator.get_state()["next_index"], n)
                yield batch
        finally:
            iterator.close()


def grain_dataset(paths, size, batch_size, seed, shard=(0, 1)):
    import grain

    def load(path, rng):
        return np.ascontiguousarray(crop(decode_photo(path, size), size, rng))

    index, count = shard
    return (grain.MapDataset.source(paths)[index::count]
            .shuffle(seed=seed).repeat(None)
            .random_map(load, seed=seed)
            .batch(batch_size, drop_remainder=True, batch_fn=np.stack))


def timed(iterator, images, batch_size):
    next(iterator)  # start-up (threads, processes) is not throughput
    start = time.perf_counter()
    for _ in range(images // batch_size):
        next(iterator)
    return images / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/photos")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--images", type=int, default=1600)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = p.parse_args()
    import grain
    from absl import flags

    flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags; we have none of our own

    paths = PhotoFolder(a.data, a.image_size, a.batch_size).paths  # the trainer's: no hold-out, copies or unreadable candidates
    load = os.getloadavg()[0]

    def report(pipeline, workers, rate, **extra):
        print(json.dumps({"pipeline": pipeline, "workers": workers, "images_per_s": round(rate, 1),
                          "load_average": round(load, 2), "cpu_count": os.cpu_count(), **extra}), flush=True)

    for n in a.workers:
        folder = PhotoFolder(a.data, a.image_size, a.batch_size, workers=n, cache_mb=0)
        batches = folder.batches()
        report("transformnet threads", n, timed(batches, a.images, a.batch_size))
        batches.close()

        folder = GrainPhotoFolder(a.data, a.image_size, a.batch_size, workers=n, cache_mb=0)
        batches = folder.batches()
        report("GrainPhotoFolder (grain, same batches)", n, timed(batches, a.images, a.batch_size))
        batches.close()

        ds = grain_dataset(paths, a.image_size, a.batch_size, seed=0)
        threads = iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=n, prefetch_buffer_size=64)))
        report("grain threads", n, timed(threads, a.images, a.batch_size))

        procs = iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=16))
                     .mp_prefetch(grain.MultiprocessingOptions(num_workers=n, per_worker_buffer_size=4)))
        report("grain processes", n, timed(procs, a.images, a.batch_size))
        del procs

    # Exact resume: the state after 5 batches restores the same next 3 batches.
    ds = grain_dataset(paths, a.image_size, a.batch_size, seed=0).to_iter_dataset(grain.ReadOptions(num_threads=2))
    first = iter(ds)
    for _ in range(5):
        next(first)
    state = first.get_state()
    expected = [next(first) for _ in range(3)]
    second = iter(ds)
    second.set_state(state)
    resumed = all(np.array_equal(next(second), e) for e in expected)
    # Shards: two processes' index sets are disjoint and cover the photos.
    halves = [set(grain.MapDataset.source(list(range(len(paths))))[i::2]) for i in range(2)]
    disjoint = not (halves[0] & halves[1]) and len(halves[0] | halves[1]) == len(paths)
    # GrainPhotoFolder gives the thread pool's batches, bit for bit.
    same = []
    for cls in (PhotoFolder, GrainPhotoFolder):
        batches = cls(a.data, a.image_size, a.batch_size, workers=2).batches()
        same.append([next(batches) for _ in range(4)])
        batches.close()
    identical = all(np.array_equal(x, y) for x, y in zip(*same))
    print(json.dumps({"grain_photofolder_same_batches_as_thread_pool": identical, "grain_exact_resume": resumed, "grain_state": str(state)[:120], "shards_disjoint_and_complete": disjoint}))


if __name__ == "__main__":
    main()
