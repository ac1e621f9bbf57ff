"""Reading event files back the way TensorBoard itself does, for the tests.

``run`` uses tensorboard's plugin event accumulator (what the TensorBoard server loads: legacy
summaries are migrated to tensors there, so the tests do not depend on the format written).
``hparams_table`` asks the HParams plugin's own backend for the session groups its dashboard
shows: one row per run with its hyper-parameters and metric values.
"""

from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util


def run(logdir):
    accumulator = plugin_event_accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def values(accumulator, tag):
    """[(step, value)] of a scalar tag."""
    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def plugin(accumulator, tag):
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


def hparams_table(root):
    """{run name: (hparams dict, {metric tag: last value})} as TensorBoard's HParams tab lists them."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(root))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(root))
    backend = backend_context.Context(base_plugin.TBContext(logdir=str(root), multiplexer=multiplexer, data_provider=provider))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=1000, allowed_statuses=list(api_pb2.Status.values())
    )
    response = list_session_groups.Handler(context.RequestContext(), backend, "", request).run()
    table = {}
    for group in response.session_groups:
        hparams = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind")) for name, value in group.hparams.items()}
        metrics = {metric.name.tag: metric.value for metric in group.metric_values}
        for session in group.sessions:
            table[session.name] = (hparams, metrics)
    return table
