"""Data-parallel training over the devices of one machine and over several machines (issue 11).

Every device holds a full copy of the transform net, the loss network and the optimizer state;
each step splits the global batch (``--batch-size``) over the devices and averages the gradients,
so N devices take exactly the step one device takes on the whole batch (up to float rounding).
The instance norm of the transform net has no statistics across the batch, which is what makes
this exact; the losses are means over the batch, so the mean of the per-device means is the loss.

- JAX: a ``jax.sharding.Mesh`` over the devices with one axis, ``data``. Batches are sharded
  along it (``P("data")``), every variable is replicated (``P()``), and the existing jitted
  stateless step is compiled with these shardings: XLA inserts the all-reduce of the gradients
  itself, inside the one compiled step. Several processes (machines) join through
  ``jax.distributed.initialize``; each process puts its own slice of the global batch on its own
  devices (``jax.make_array_from_process_local_data``). This is explicit sharding rather than
  ``keras.distribution.DataParallel`` because the trainer already drives a stateless jit step
  and owns its state; a global Keras distribution would change how every variable is created.
- TensorFlow: ``tf.distribute.MirroredStrategy`` over the local GPUs (or logical CPUs), or
  ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers. Keras' optimizer
  *sums* gradients over replicas, so each replica's loss is divided by the number of replicas.

Only process 0 writes TensorBoard, checkpoints and the exported model. Each process reads a
disjoint shard of the photos, so its data position differs: checkpoints store the positions of
all processes and ``--resume`` (every process reading the same LOGDIR, a shared file system)
gives each process its own. TensorFlow is imported only by ``TensorFlowDistribution``.
"""

import contextlib
import json
import os

import numpy as np


class DistributionError(ValueError):
    """Devices, processes and batch size that do not fit together; ``str()`` says why."""


def parse_devices(text):
    """``--devices``: ``all`` (every local accelerator, else the CPU) -> None, or a count >= 1."""
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"expected 'all' or a number of devices >= 1, got {text!r}")
    return count


class Silent:
    """Stands in for the TensorBoard writer and the progress bar on processes other than 0."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def pack_positions(positions):
    """Data positions of all processes -> checkpoint ``data``: a single process keeps the plain
    position of earlier checkpoints, several store a list indexed by process."""
    return positions[0] if len(positions) == 1 else positions


def unpack_position(saved, process_index, process_count):
    """This process's data position from a checkpoint's ``data``."""
    saved_count = len(saved) if isinstance(saved, list) else 1
    if saved_count != process_count:
        raise DistributionError(
            f"the checkpoint was written by {saved_count} training process(es), this run has {process_count}: "
            "resume with the same number of processes (each reads its own shard of the photos)"
        )
    return saved[process_index] if isinstance(saved, list) else saved


def _choose(available, count, what):
    if count is not None and count > len(available):
        raise DistributionError(f"--devices {count}: this machine has {len(available)} {what}")
    return available if count is None else available[:count]


class Distribution:
    """Where training runs. ``process_index``/``process_count``: this process among all;
    ``num_devices``: devices over all processes; ``put(batch)``: this process's part of the
    global batch -> what the step takes; ``gather(obj)``: a JSON-able value from every process."""

    process_index = 0
    process_count = 1
    num_devices = 1
    platform = "cpu"

    @property
    def is_chief(self):
        return self.process_index == 0

    def local_batch_size(self, batch_size):
        """The global ``--batch-size`` -> photos this process reads per step."""
        if batch_size % self.num_devices:
            raise DistributionError(
                f"--batch-size {batch_size} does not split evenly over {self.num_devices} devices; "
                f"use a multiple of {self.num_devices} (the batch size is global)"
            )
        return batch_size // self.process_count

    def shard(self):
        return (self.process_index, self.process_count)

    def scope(self):
        return contextlib.nullcontext()

    def describe(self):
        processes = f" in {self.process_count} processes" if self.process_count > 1 else ""
        return f"{self.num_devices} {self.platform} device{'s' if self.num_devices > 1 else ''}{processes}"

    def gather(self, obj):
        if self.process_count == 1:
            return [obj]
        blob = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8).astype(np.int32)
        sizes = self._allgather(np.array([blob.size], np.int32)).reshape(-1)
        padded = np.zeros(int(sizes.max()), np.int32)
        padded[: blob.size] = blob
        blobs = self._allgather(padded)
        return [json.loads(bytes(row[:n].astype(np.uint8)).decode("utf-8")) for row, n in zip(blobs, sizes)]


# --- JAX --------------------------------------------------------------------------------------------
CLUSTER_SIZE_VARIABLES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
"""Launchers whose environment JAX's ``jax.distributed.initialize()`` reads by itself."""


def initialize_jax(coordinator=None, num_processes=None, process_id=None):
    """Joins a multi-process JAX job when the flags or the environment describe one.

    Flags win; what they leave out JAX fills in from its cluster detection (SLURM, Open MPI,
    ``JAX_COORDINATOR_ADDRESS``, Cloud TPU). Must run before JAX computes anything.
    """
    import jax

    in_cluster = os.environ.get("JAX_COORDINATOR_ADDRESS") or any(int(os.environ.get(k, "1") or 1) > 1 for k in CLUSTER_SIZE_VARIABLES)
    if not (coordinator or (num_processes or 1) > 1 or in_cluster):
        if process_id:  # it would train alone as process 0 and export a model of its shard's photos
            raise DistributionError(f"--process-id {process_id} is one process of a multi-process job, and none is described; "
                                    "give --num-processes N and --coordinator HOST:PORT (process 0's address) too")
        return
    if jax.distributed.is_initialized():
        return
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    except (RuntimeError, ValueError) as error:
        raise DistributionError(f"cannot join the multi-process JAX job: {str(error).splitlines()[0]}") from None


class JaxDistribution(Distribution):
    """A one-axis mesh over ``count`` devices of every process (``None``: all local devices)."""

    def __init__(self, count=None):
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.process_index, self.process_count = jax.process_index(), jax.process_count()
        local = _choose(jax.local_devices(), count, f"{jax.default_backend()} device(s) for JAX")
        per_process = len(local)
        devices = []
        for p in range(self.process_count):  # every process picks the same number of its own devices
            devices += [d for d in jax.devices() if d.process_index == p][:per_process]
        self.devices = devices
        self.num_devices = len(devices)
        self.platform = jax.default_backend()
        self.mesh = Mesh(np.array(devices), ("data",))
        self.batch = NamedSharding(self.mesh, PartitionSpec("data"))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())

    def put(self, local_batch):
        """This process's rows of the global batch -> one global array sharded along ``data``."""
        import jax

        return jax.make_array_from_process_local_data(self.batch, np.asarray(local_batch))

    def replicate(self, values):
        """Host values (the same in every process) -> arrays replicated on every device.

        ``make_array_from_callback`` rather than ``device_put``: it only places data on this
        process's own devices, which is what works when other processes hold the rest of the mesh.
        """
        import jax

        def one(value):
            value = np.asarray(value)
            return jax.make_array_from_callback(value.shape, self.replicated, lambda index: value[index])

        return jax.tree.map(one, values)

    @staticmethod
    def to_host(values):
        """Replicated arrays -> numpy in one transfer, from this process's first copy (another
        process's copy cannot be read here, and all copies are equal)."""
        import jax

        return jax.device_get(jax.tree.map(lambda x: x.addressable_data(0), values))

    def _allgather(self, array):
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(array))


# --- TensorFlow -------------------------------------------------------------------------------------
def tf_config_workers():
    """``(tasks, own index)`` from ``TF_CONFIG``: chief first, then the workers; ``(1, 0)`` without one."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return 1, 0
    try:
        document = json.loads(text)
        cluster, task = document.get("cluster", {}), document.get("task", {})
        chiefs, workers = len(cluster.get("chief", ())), len(cluster.get("worker", ()))
        index = int(task.get("index", 0)) + (chiefs if task.get("type") == "worker" else 0)
    except (ValueError, AttributeError, TypeError) as error:
        raise DistributionError(f"TF_CONFIG is not a usable cluster description ({error})") from None
    return chiefs + workers, index


class TensorFlowDistribution(Distribution):
    """``MirroredStrategy`` over local devices, ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``;
    ``strategy`` is None for one device in one process (the plain, fully XLA-compiled step)."""

    def __init__(self, count=None):
        import tensorflow as tf

        self.process_count, self.process_index = tf_config_workers()
        if self.process_count > 1:
            if count is not None:
                raise DistributionError("--devices with TF_CONFIG: each worker uses all its GPUs (limit them with CUDA_VISIBLE_DEVICES)")
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
            self.local_replicas = len(self.strategy.extended.worker_devices)
        else:
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
            local = _choose(gpus or [d.name for d in tf.config.list_logical_devices("CPU")], count, "GPU(s)" if gpus else "CPU device(s)")
            self.strategy = tf.distribute.MirroredStrategy(local) if len(local) > 1 else None
            self.local_replicas = len(local)
        self.platform = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        self.num_devices = self.strategy.num_replicas_in_sync if self.strategy else 1

    def scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def put(self, local_batch):
        """This process's rows -> one slice per local replica (replicas are numbered worker-major)."""
        if self.strategy is None:
            return local_batch
        n = self.local_replicas
        per = len(local_batch) // n
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: local_batch[(ctx.replica_id_in_sync_group % n) * per : (ctx.replica_id_in_sync_group % n + 1) * per]
        )

    def _allgather(self, array):
        import tensorflow as tf

        values = self.strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(array[None]))
        gathered = tf.function(lambda v: self.strategy.gather(v, axis=0))(values)
        return np.asarray(gathered)[:: self.local_replicas]  # one row per worker


def setup(backend, devices=None, coordinator=None, num_processes=None, process_id=None):
    """The trainer's distribution for ``backend``; joins a multi-process job first where asked."""
    if backend == "jax":
        initialize_jax(coordinator, num_processes, process_id)
        return JaxDistribution(devices)
    if coordinator or num_processes or process_id is not None:
        raise DistributionError("--coordinator/--num-processes/--process-id are for JAX; TensorFlow reads TF_CONFIG")
    return TensorFlowDistribution(devices)
