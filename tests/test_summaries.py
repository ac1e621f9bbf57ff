"""TensorBoard summaries: written through tensorboard's writer, read back by tensorboard's reader,
with TensorFlow never imported (the GPU machine has none)."""

import io
import subprocess
import sys
import textwrap

import numpy as np
import tensorboard_reader
from PIL import Image
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from conftest import ROOT
from transformnet.summaries import SummaryWriter


def test_scalars_images_text_and_hparams_read_back(tmp_path):
    picture = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    with SummaryWriter(tmp_path) as writer:
        writer.scalars({"losses/total": 3.5, "images_per_second": 12}, 5)
        writer.scalar("losses/total", 2.25, 10)
        writer.image("images/style", picture, 0)
        writer.text("settings", "```\n{}\n```")
        writer.hparams({"style_weight": 1e6, "name": "starry", "resume": False, "workers": None})
    run = tensorboard_reader.run(tmp_path)
    assert tensorboard_reader.values(run, "losses/total") == [(5, 3.5), (10, 2.25)]
    assert tensorboard_reader.values(run, "images_per_second") == [(5, 12.0)]
    (event,) = run.Tensors("images/style")
    width, height, png = tensor_util.make_ndarray(event.tensor_proto)
    assert (width, height) == (b"9", b"7")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), picture)
    (event,) = run.Tensors("settings")
    assert tensor_util.make_ndarray(event.tensor_proto).item() == b"```\n{}\n```"
    content = run.PluginTagToContent("hparams")[hparams_metadata.SESSION_START_INFO_TAG]
    hparams = hparams_metadata.parse_session_start_info_plugin_data(content).hparams
    assert hparams["style_weight"].number_value == 1e6 and hparams["name"].string_value == "starry"
    assert hparams["resume"].bool_value is False and hparams["workers"].string_value == "None"


def test_runs_compare_side_by_side_in_the_hparams_dashboard(tmp_path):
    for name, style_weight in (("weak", 1e5), ("strong", 1e6)):
        with SummaryWriter(tmp_path / name) as writer:
            writer.hparams({"name": name, "style_weight": style_weight, "steps": 20})
            for step in (10, 20):
                writer.scalars({"losses/total": style_weight / step, "validation/total": 2 * style_weight / step}, step)
    table = tensorboard_reader.hparams_table(tmp_path)
    assert table == {
        "weak": ({"name": "weak", "style_weight": 1e5, "steps": 20}, {"losses/total": 5e3, "validation/total": 1e4}),
        "strong": ({"name": "strong", "style_weight": 1e6, "steps": 20}, {"losses/total": 5e4, "validation/total": 1e5}),
    }


def test_writing_never_imports_tensorflow(tmp_path):
    """Installed but not loaded: stays unloaded, and tf.summary still works afterwards in the
    same process (tensorboard's own file layer is not pinned). Not installed (the GPU
    machine): still works."""
    script = textwrap.dedent(f"""
        import sys
        if sys.argv[1] == "absent":
            sys.modules["tensorflow"] = None  # import tensorflow now raises ImportError
        from transformnet.summaries import SummaryWriter
        with SummaryWriter({str(tmp_path)!r} + "/" + sys.argv[1]) as writer:
            writer.scalars({{"losses/total": 1.5}}, 1)
            writer.image("images/style", [[[1, 2, 3]]], 0)
            writer.hparams({{"lr": 0.001}})
        assert sys.modules.get("tensorflow") is None, "TensorFlow was imported"
        if sys.argv[1] == "installed":
            import tensorflow as tf
            with tf.summary.create_file_writer({str(tmp_path)!r} + "/tf").as_default():
                assert tf.summary.scalar("x", 1.0, step=1)
    """)
    for case in ("installed", "absent"):
        done = subprocess.run([sys.executable, "-c", script, case], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert tensorboard_reader.values(tensorboard_reader.run(tmp_path / case), "losses/total") == [(1, 1.5)]


def test_a_full_disk_is_one_line_naming_the_event_file_which_keeps_its_complete_events(tmp_path):
    """A bare OSError from the event file carried no file name (train.py said "error: output: No
    space left on device"); now a WriteError names the file, and the half-written record is cut
    off so the file ends with the last complete event."""
    script = textwrap.dedent(f"""
        import numpy as np
        from transformnet.files import WriteError
        from transformnet.summaries import SummaryWriter
        writer = SummaryWriter({str(tmp_path)!r})
        writer.scalars({{"losses/total": 1.5}}, 1)
        try:
            writer.image("images/noise", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), 2)
        except WriteError as error:
            print(error)
        writer.close()
    """)
    from conftest import file_size_limit

    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=file_size_limit(4000))  # the PNG of 64x64 noise is ~12 kB
    assert done.returncode == 0, done.stderr
    (events,) = tmp_path.glob("events.out.tfevents.*")
    assert done.stdout.strip() == f"{events}: cannot write (File too large)"
    assert tensorboard_reader.values(tensorboard_reader.run(tmp_path), "losses/total") == [(1, 1.5)]
    assert events.stat().st_size < 4000
